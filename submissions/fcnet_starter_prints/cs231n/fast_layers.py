from __future__ import print_function
import numpy as np
try:
    from cs231n.im2col_cython import col2im_cython, im2col_cython
    from cs231n.im2col_cython import col2im_6d_cython
except ImportError:
    print("""=========== You can safely ignore the message below if you are NOT working on ConvolutionalNetworks.ipynb ===========""")
    print("\tYou will need to compile a Cython extension for a portion of this assignment.")
    print("\tThe instructions to do this will be given in a section of the notebook below.")
    print("\tThere will be an option for Colab users and another for Jupyter (local) users.")

from cs231n.im2col import *


def conv_forward_fast(x, w, b, conv_param):
    raise NotImplementedError
