"""What p means: the probability of keeping a unit (2018 onwards) or of dropping one (the
2016-2017 notebooks). The checks think in keep probabilities and ask the convention which p
to pass and which mistake the other reading is."""

from __future__ import annotations

from dataclasses import dataclass

NAMES = ("keep", "drop")


@dataclass(frozen=True)
class Convention:
    name: str

    def p(self, keep: float) -> float:
        """The dropout_param["p"] that means keeping a unit with probability KEEP."""
        return keep if self.name == "keep" else round(1 - keep, 10)

    @property
    def other_reading(self) -> str:
        """The misconception of a student who reads p the other way."""
        return "p_as_drop" if self.name == "keep" else "p_as_keep"


# The notebook's keep probabilities: p in 0.25, 0.4, 0.7 since 2018 (0.3, 0.6, 0.75 as drop
# probabilities in 2016-2017), and p = 0.2 (0.8) for the gradient check.
NOTEBOOK_KEEPS = (0.25, 0.4, 0.7)
GRADIENT_KEEP = 0.2
