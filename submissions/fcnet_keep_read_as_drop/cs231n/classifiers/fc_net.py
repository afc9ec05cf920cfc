import numpy as np

from cs231n.layer_utils import *
from cs231n.layers import *


class FullyConnectedNet(object):
    def __init__(self, hidden_dims, input_dim=3*32*32, num_classes=10,
                 dropout=1, normalization=None, reg=0.0,
                 weight_scale=1e-2, dtype=np.float32, seed=None):
        self.normalization = normalization
        self.use_dropout = dropout != 1
        self.reg = reg
        self.num_layers = 1 + len(hidden_dims)
        self.dtype = dtype
        self.params = {}

        sizes = [input_dim] + list(hidden_dims) + [num_classes]
        for layer in range(1, self.num_layers + 1):
            fan_in, fan_out = sizes[layer - 1], sizes[layer]
            self.params['W' + str(layer)] = np.random.normal(0, weight_scale, (fan_in, fan_out))
            self.params['b' + str(layer)] = np.zeros(fan_out)

        self.dropout_param = {}
        if self.use_dropout:
            self.dropout_param = {'mode': 'train', 'p': 1 - dropout}  # drop prob.
            if seed is not None:
                self.dropout_param['seed'] = seed

        for k, v in self.params.items():
            self.params[k] = v.astype(dtype)

    def loss(self, X, y=None):
        X = X.astype(self.dtype)
        mode = 'test' if y is None else 'train'
        if self.use_dropout:
            self.dropout_param['mode'] = mode

        cache = {}
        hidden = X
        for layer in range(1, self.num_layers):
            W, b = self.params['W%d' % layer], self.params['b%d' % layer]
            hidden, cache['relu%d' % layer] = affine_relu_forward(hidden, W, b)
            if self.use_dropout:
                hidden, cache['drop%d' % layer] = dropout_forward(hidden, self.dropout_param)
        L = self.num_layers
        scores, cache['out'] = affine_forward(hidden, self.params['W%d' % L],
                                              self.params['b%d' % L])

        if mode == 'test':
            return scores

        loss, grads = 0.0, {}
        loss, dscores = softmax_loss(scores, y)
        dhidden, grads['W%d' % L], grads['b%d' % L] = affine_backward(dscores, cache['out'])
        for layer in reversed(range(1, self.num_layers)):
            if self.use_dropout:
                dhidden = dropout_backward(dhidden, cache['drop%d' % layer])
            dhidden, dW, db = affine_relu_backward(dhidden, cache['relu%d' % layer])
            grads['W%d' % layer], grads['b%d' % layer] = dW, db

        for layer in range(1, self.num_layers + 1):
            W = self.params['W%d' % layer]
            loss += 0.5 * self.reg * np.sum(W ** 2)
            grads['W%d' % layer] += self.reg * W

        return loss, grads
