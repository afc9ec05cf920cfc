import numpy as np

from cs231n.layers import *
from cs231n.layer_utils import *


class FullyConnectedNet(object):
  """
  {affine - relu - [dropout]} x (L - 1) - affine - softmax
  """

  def __init__(self, hidden_dims, input_dim=3*32*32, num_classes=10,
               dropout=0, use_batchnorm=False, reg=0.0,
               weight_scale=1e-2, dtype=np.float32, seed=None):
    self.use_batchnorm = use_batchnorm
    self.use_dropout = dropout > 0
    self.reg = reg
    self.num_layers = 1 + len(hidden_dims)
    self.dtype = dtype
    self.params = {}

    layer_input = input_dim
    for i, h in enumerate(list(hidden_dims) + [num_classes]):
      self.params['W%d' % (i + 1)] = np.random.randn(layer_input, h) * weight_scale
      self.params['b%d' % (i + 1)] = np.zeros(h)
      layer_input = h

    self.dropout_param = {}
    if self.use_dropout:
      self.dropout_param = {'mode': 'train', 'p': dropout}
      if seed is not None:
        self.dropout_param['seed'] = seed

    for k, v in self.params.items():
      self.params[k] = v.astype(dtype)

  def loss(self, X, y=None):
    X = X.astype(self.dtype)
    mode = 'test' if y is None else 'train'
    if self.dropout_param is not None:
      self.dropout_param['mode'] = mode

    h = X
    affine_caches, dropout_caches = [], []
    for i in range(1, self.num_layers):
      h, c = affine_relu_forward(h, self.params['W%d' % i], self.params['b%d' % i])
      affine_caches.append(c)
      if self.use_dropout:
        h, c = dropout_forward(h, self.dropout_param)
        dropout_caches.append(c)
    n = self.num_layers
    scores, out_cache = affine_forward(h, self.params['W%d' % n], self.params['b%d' % n])

    if mode == 'test':
      return scores

    grads = {}
    loss, dscores = softmax_loss(scores, y)
    dh, grads['W%d' % n], grads['b%d' % n] = affine_backward(dscores, out_cache)
    for i in range(self.num_layers - 1, 0, -1):
      if self.use_dropout:
        dh = dropout_backward(dh, dropout_caches[i - 1])
      dh, grads['W%d' % i], grads['b%d' % i] = affine_relu_backward(dh, affine_caches[i - 1])

    for i in range(1, self.num_layers + 1):
      loss += 0.5 * self.reg * np.sum(self.params['W%d' % i] ** 2)
      grads['W%d' % i] += self.reg * self.params['W%d' % i]

    return loss, grads
