# 200 processes forked at import (as many as the cap allows), half in sessions of their own,
# each sleeping for ever; then a correct solution. None may outlive the submission.
import os
import time

import numpy as np

started = 0
for i in range(200):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        if i % 2:
            os.setsid()
        try:
            while True:
                time.sleep(100)
        finally:
            os._exit(0)
    started += 1
print(f"forked {started} processes at import")


def dropout_forward(x, dropout_param):
    p = dropout_param["p"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    if dropout_param["mode"] == "test":
        return x, (dropout_param, None)
    mask = (np.random.rand(*x.shape) < p) / p
    return (x * mask).astype(x.dtype), (dropout_param, mask)


def dropout_backward(dout, cache):
    dropout_param, mask = cache
    return dout * mask if dropout_param["mode"] == "train" else dout
