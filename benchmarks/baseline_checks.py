"""The per-submission baseline of benchmarks/throughput.py: what graders commonly do, a fresh
`python -m pytest` process per submission that imports the student's module and runs checks
equivalent to the grader's nine (no sandbox). Not part of the grader; never collected by the
project's own tests (it is outside tests/ and named baseline_*)."""

import importlib.util
import os

import numpy as np
import pytest

spec = importlib.util.spec_from_file_location("student", os.environ["SUBMISSION"])
student = importlib.util.module_from_spec(spec)
try:
    spec.loader.exec_module(student)
except Exception as exc:  # a broken submission fails every check, as in the grader
    IMPORT_ERROR = exc
else:
    IMPORT_ERROR = None
X = np.random.RandomState(231).randn(200, 200) + 10  # the grader's notebook_x


@pytest.fixture(autouse=True)
def imported():
    if IMPORT_ERROR is not None:
        pytest.fail(f"import failed: {IMPORT_ERROR}")


def fwd(x, **param):
    return student.dropout_forward(x, param)


@pytest.mark.parametrize("shape", [(1000,), (40, 50), (8, 3, 6, 6)])
def test_forward_shape(shape):
    x = np.random.randn(*shape) + 10
    for mode in ("train", "test"):
        assert fwd(x, mode=mode, p=0.5, seed=1)[0].shape == x.shape


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_dtype(dtype):
    x = (np.random.randn(60, 70) + 10).astype(dtype)
    for mode in ("train", "test"):
        assert fwd(x, mode=mode, p=0.5, seed=1)[0].dtype == dtype


def test_test_mode_identity():
    for p in (0.25, 0.7):
        assert np.allclose(fwd(X, mode="test", p=p)[0], X)


@pytest.mark.parametrize("p", [0.25, 0.4, 0.7])
def test_keep_probability_and_mean(p):
    out = fwd(X.copy(), mode="train", p=p)[0]
    assert abs(np.count_nonzero(out) / out.size - p) < 8 * np.sqrt(p * (1 - p) / out.size)
    assert abs(out.mean() / X.mean() - 1) < 0.08  # 8 sd at p = 0.25 on 200 x 200


def test_input_untouched():
    x = np.random.randn(60, 70) + 10
    before = x.copy()
    fwd(x, mode="train", p=0.5, seed=1)
    fwd(x, mode="test", p=0.5)
    assert np.array_equal(x, before)


def test_seeded_determinism():
    x = np.random.randn(100, 100) + 10
    a, b, c = (fwd(x, mode="train", p=0.5, seed=s)[0] for s in (123, 123, 231))
    assert np.array_equal(a, b) and not np.array_equal(a != 0, c != 0)


def test_backward_gradient():
    rs = np.random.RandomState(231)
    x, dout = rs.randn(10, 10) + 10, rs.randn(10, 10)
    param = {"mode": "train", "p": 0.2, "seed": 123}
    _, cache = student.dropout_forward(x, param)
    dx = student.dropout_backward(dout, cache)
    num = np.zeros_like(x)
    for i in range(x.size):
        xp, xm = x.copy(), x.copy()
        xp.flat[i] += 1e-5
        xm.flat[i] -= 1e-5
        num.flat[i] = np.sum((student.dropout_forward(xp, param)[0]
                              - student.dropout_forward(xm, param)[0]) * dout) / 2e-5
    assert np.max(np.abs(dx - num) / np.maximum(1e-8, np.abs(dx) + np.abs(num))) < 1e-8


def test_backward_test_mode():
    dout = np.random.randn(30, 40)
    assert np.allclose(student.dropout_backward(dout, ({"mode": "test", "p": 0.5}, None)), dout)
