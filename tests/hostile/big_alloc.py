import numpy as np


def dropout_forward(x, dropout_param):
    huge = np.ones(2**30)  # 8 GiB of float64
    return x * huge[0], (dropout_param, None)
