import numpy as np

from ..layers import *


class FullyConnectedNet(object):
    """A fully connected network of any depth (the starter's shape, TODOs untouched)."""

    def __init__(self, hidden_dims, input_dim=3 * 32 * 32, num_classes=10,
                 dropout_keep_ratio=1, normalization=None, reg=0.0,
                 weight_scale=1e-2, dtype=np.float32, seed=None):
        self.normalization = normalization
        self.use_dropout = dropout_keep_ratio != 1
        self.reg = reg
        self.num_layers = 1 + len(hidden_dims)
        self.dtype = dtype
        self.params = {}
        ########################################################################
        # TODO: Initialize the parameters of the network, storing all values   #
        # in the self.params dictionary.                                       #
        ########################################################################
        pass
        ########################################################################
        #                            END OF YOUR CODE                          #
        ########################################################################

        # Handed out as it is: a dropout_param dict for every dropout layer.
        self.dropout_param = {}
        if self.use_dropout:
            self.dropout_param = {"mode": "train", "p": dropout_keep_ratio}
            if seed is not None:
                self.dropout_param["seed"] = seed

        for k, v in self.params.items():
            self.params[k] = v.astype(dtype)

    def loss(self, X, y=None):
        X = X.astype(self.dtype)
        mode = "test" if y is None else "train"
        if self.use_dropout:
            self.dropout_param["mode"] = mode
        scores = None
        ########################################################################
        # TODO: Implement the forward pass, computing the class scores for X.  #
        ########################################################################
        pass
        ########################################################################
        #                            END OF YOUR CODE                          #
        ########################################################################
        if mode == "test":
            return scores

        loss, grads = 0.0, {}
        ########################################################################
        # TODO: Implement the backward pass: the loss, and its gradients.      #
        ########################################################################
        pass
        ########################################################################
        #                            END OF YOUR CODE                          #
        ########################################################################
        return loss, grads
