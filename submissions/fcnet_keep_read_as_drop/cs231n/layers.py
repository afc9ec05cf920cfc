import numpy as np


def affine_forward(x, w, b):
    flat = np.reshape(x, (len(x), -1))
    return np.dot(flat, w) + b, {"x": x, "w": w}


def affine_backward(dout, cache):
    x, w = cache["x"], cache["w"]
    flat = np.reshape(x, (len(x), -1))
    return np.dot(dout, w.T).reshape(x.shape), np.dot(flat.T, dout), np.sum(dout, axis=0)


def relu_forward(x):
    out = x.copy()
    out[out < 0] = 0
    return out, {"x": x}


def relu_backward(dout, cache):
    dx = dout.copy()
    dx[cache["x"] <= 0] = 0
    return dx


def softmax_loss(x, y):
    e = np.exp(x - np.max(x, axis=1, keepdims=True))
    probs = e / np.sum(e, axis=1, keepdims=True)
    N = len(y)
    loss = -np.sum(np.log(probs[range(N), y])) / N
    dx = probs.copy()
    dx[range(N), y] -= 1.0
    dx /= N
    return loss, dx


def dropout_forward(x, dropout_param):
    p, mode = dropout_param['p'], dropout_param['mode']
    if 'seed' in dropout_param:
        np.random.seed(dropout_param['seed'])

    mask = None
    out = None
    if mode == 'train':
        mask = np.random.binomial(1, p, size=x.shape) / p
        out = x * mask
    elif mode == 'test':
        out = x

    cache = (dropout_param, mask)
    out = out.astype(x.dtype, copy=False)
    return out, cache


def dropout_backward(dout, cache):
    dropout_param, mask = cache
    mode = dropout_param['mode']
    dx = None
    if mode == 'train':
        dx = dout * mask
    elif mode == 'test':
        dx = dout
    return dx
