# Writes up to 800 MiB into its working folder (files of 8 MiB, under the per-file limit),
# says how much it managed, then is a correct solution.
import os

import numpy as np

chunk = b"\0" * (1 << 20)
written = 0
try:
    for i in range(100):
        with open(f"fill-{i}.bin", "wb") as f:
            for _ in range(8):
                f.write(chunk)
                f.flush()
                written += 1
except OSError as err:
    print(f"the disk refused: {type(err).__name__}")
print(f"wrote {written} MiB")
for name in os.listdir("."):
    if name.startswith("fill-"):
        os.remove(name)


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
