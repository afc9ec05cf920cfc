import numpy as np


def make_mask(shape, p):
    """Inverted-dropout mask: 1/p where a unit is kept, 0 where it is dropped."""
    return (np.random.rand(*shape) < p) / p
