def dropout_forward(x, dropout_param):
    while True:
        pass


def dropout_backward(dout, cache):
    return dout
