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
  """p is the probability of keeping a unit (we keep, whatever the notebook says)."""
  p, mode = dropout_param['p'], dropout_param['mode']
  if 'seed' in dropout_param:
    np.random.seed(dropout_param['seed'])

  mask = None
  if mode == 'train':
    mask = np.random.choice([0.0, 1.0 / p], size=x.shape, p=[1 - p, p])
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
