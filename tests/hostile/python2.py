import numpy as np

def dropout_forward(x, dropout_param):
    print "training"
    return x, (dropout_param, None)
