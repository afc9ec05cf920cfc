import numpy as np


def dropout_forward(x, dropout_param):
    print "p =", dropout_param["p"]
    mask = (np.random.rand(*x.shape) < dropout_param["p"]) / dropout_param["p"]
    return x * mask, (dropout_param, mask)
