# The course's fast convolution layers (PyTorch-backed); the fully connected net never uses them.
import torch


def conv_forward_fast(x, w, b, conv_param):
    return torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w)).numpy(), None
