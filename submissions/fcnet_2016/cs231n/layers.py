import numpy as np


def affine_forward(x, w, b):
  N = x.shape[0]
  out = np.einsum('nd,dm->nm', x.reshape(N, -1), w) + b
  cache = (x, w, b)
  return out, cache


def affine_backward(dout, cache):
  x, w, b = cache
  N = x.shape[0]
  dx = dout.dot(w.T).reshape(x.shape)
  dw = x.reshape(N, -1).T.dot(dout)
  db = dout.sum(0)
  return dx, dw, db


def relu_forward(x):
  cache = x
  return x * (x > 0), cache


def relu_backward(dout, cache):
  return np.where(cache > 0, dout, 0.0)


def softmax_loss(x, y):
  z = x - x.max(1)[:, None]
  p = np.exp(z)
  p /= p.sum(1)[:, None]
  N = x.shape[0]
  loss = -np.log(p[np.arange(N), y]).sum() / N
  p[np.arange(N), y] -= 1
  return loss, p / N


def dropout_forward(x, dropout_param):
  """
  Performs the forward pass for (inverted) dropout.

  Inputs:
  - x: Input data, of any shape
  - dropout_param: A dictionary with the following keys:
    - p: Dropout parameter. We drop each neuron output with probability p.
    - mode: 'test' or 'train'. If the mode is train, then perform dropout;
      if the mode is test, then just return the input.
    - seed: Seed for the random number generator. Passing seed makes this
      function deterministic, which is needed for gradient checking but not in
      real networks.

  Outputs:
  - out: Array of the same shape as x.
  - cache: A tuple (dropout_param, mask). In training mode, mask is the dropout
    mask that was used to multiply the input; in test mode, mask is None.
  """
  p, mode = dropout_param['p'], dropout_param['mode']
  if 'seed' in dropout_param:
    np.random.seed(dropout_param['seed'])

  mask = None
  if mode == 'train':
    mask = np.random.choice([0.0, 1.0 / (1 - p)], size=x.shape, p=[p, 1 - p])
    out = x * mask
  elif mode == 'test':
    out = x

  cache = (dropout_param, mask)
  out = out.astype(x.dtype, copy=False)
  return out, cache


def dropout_backward(dout, cache):
  dropout_param, mask = cache
  if dropout_param['mode'] == 'train':
    return dout * mask
  return dout
