"""Bundled example: does nothing: x comes back unchanged in both modes, dout likewise."""


def dropout_forward(x, dropout_param):
    return x, (dropout_param, None)


def dropout_backward(dout, cache):
    return dout
