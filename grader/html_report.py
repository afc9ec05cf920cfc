"""grading/report.html: one self-contained file (inline CSS and SVG, nothing from the network)
for the instructor, and grading/written_answers.csv for manual grading. Needs the `report`
extra (jinja2, matplotlib)."""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import io
import re
import threading
from pathlib import Path

from grader import answers, misconceptions, notebooks, report, results
from grader.inert import cell

REPORT = "report.html"
ANSWERS = "written_answers.csv"
MISSING_EXTRA = ("the instructor's report needs the report extra: "
                 "pip install 'dropout-grader[report]' (make grade installs it)")


def available() -> bool:
    """Whether the report extra is installed (found, not imported: that is slow)."""
    return all(importlib.util.find_spec(name) is not None
               for name in ("jinja2", "matplotlib"))


def preload() -> None:
    """Start importing the report's libraries in a background thread (while a batch is
    graded), so that writing the report later does not wait for them."""

    def load() -> None:
        with contextlib.suppress(ImportError):
            import jinja2  # noqa: F401
            import matplotlib.figure  # noqa: F401

    threading.Thread(target=load, daemon=True).start()


def written_answers(result: results.SubmissionResult) -> list[notebooks.Answer]:
    """A graded submission's written answers, from its notebook if it has one."""
    return answers.read(result).answers


def write(out: Path, roster: dict[str, str] | None = None) -> Path:
    """Build the class report from the results in OUT (read once); write report.html and the
    answers."""
    data = report.build(out, roster, written_answers)
    html = _render(data)
    results.write_atomic(out / REPORT, html)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", "question", "answer", "answered"])
    for student in data.students:
        for answer in student.answers:
            writer.writerow([cell(student.id), cell(answer.question), cell(answer.answer),
                             answer.answered])
    results.write_atomic(out / ANSWERS, buffer.getvalue())
    return out / REPORT


def _render(data: report.ClassReport) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("grader", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]))
    return env.get_template("report.html.j2").render(
        data=data, catalogue=misconceptions.CATALOGUE,
        histogram=_histogram_svg(data), pass_rates=_pass_rate_svg(data))


def _axes(height: float):
    """A new figure of the report's width, drawn without a display (no pyplot: nothing global);
    text stays text in the SVG (no fonts embedded or fetched)."""
    import matplotlib
    from matplotlib.figure import Figure

    matplotlib.rcParams["svg.fonttype"] = "none"
    figure = Figure(figsize=(6, height))
    return figure, figure.subplots()


def _svg(figure, axes, xlabel: str) -> str:
    """The finished chart (a 0-100 % axis) as inline SVG: no prologue, no metadata."""
    axes.set_xlim(0, 100)
    axes.set_xlabel(xlabel)
    axes.spines[["top", "right"]].set_visible(False)
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    svg = re.sub(r"(?s)<metadata>.*?</metadata>", "", buffer.getvalue())
    return svg[svg.index("<svg"):]


def _histogram_svg(data: report.ClassReport) -> str:
    figure, axes = _axes(2.4)
    counts = data.histogram()
    width = 100 / len(counts)
    axes.bar([i * width for i in range(len(counts))], counts, width=width * 0.9, align="edge",
             color="#3b6ea5")
    axes.set_ylabel("students")
    axes.yaxis.get_major_locator().set_params(integer=True)
    return _svg(figure, axes, "score (%)")


def _pass_rate_svg(data: report.ClassReport) -> str:
    ids = [cid for cid, _ in data.checks][::-1]
    rates = [100 * data.pass_rates[cid] for cid in ids]
    figure, axes = _axes(0.32 * len(ids) + 0.6)
    axes.barh(ids, rates, color=["#3b8a4a" if r >= 80 else "#c0812f" if r >= 50 else "#b33a3a"
                                 for r in rates])
    for y, rate in enumerate(rates):
        axes.text(min(rate + 1, 92), y, f"{rate:.0f}%", va="center", fontsize=8)
    return _svg(figure, axes, "students passing (%)")
