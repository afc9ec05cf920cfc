from builtins import range  # noqa: F401  (as in the starter)

import numpy as np


def dropout_forward(x, dropout_param):
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    mask = None
    if mode == "train":
        mask = np.random.binomial(1, p, size=x.shape) / p
        out = x * mask
    else:
        out = x.copy()
    return out.astype(x.dtype, copy=False), (dropout_param, mask)


def dropout_backward(dout, cache):
    dropout_param, mask = cache
    if dropout_param["mode"] == "train":
        return dout * mask
    return dout
