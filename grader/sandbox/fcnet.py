"""In the child: the student's ``FullyConnectedNet``, driven as the Dropout notebook drives it.

The grader sends a plan, a list of steps (build a net, take its loss, move one parameter and
take the loss again, read its parameters); this module runs the steps in order and answers
each with plain data (numbers and arrays, described by the child's ``describe``) or with the
description of what the student's code raised. It judges nothing. Standard library and numpy
only: the fork server imports it as a top-level module, like ``child.py``.
"""

import importlib
import inspect
import sys
import types
from collections.abc import Callable

CLASS = "FullyConnectedNet"
MAX_STAND_INS = 8
LAYER = ("dropout_forward", "dropout_backward")


class _Absent:
    """What a stand-in module gives for any name: using it says the module is not here."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attribute):
        return _Absent(f"{self._name}.{attribute}")

    def __call__(self, *args, **kwargs):
        raise ImportError(f"{self._name} is not available in the grader (a stand-in module)")


def _stand_in(name):
    module = types.ModuleType(name, "a stand-in: the grader cannot import this module")
    module.__path__ = []  # a package: its submodules get stand-ins of their own

    def absent(attribute):
        if attribute.startswith("__"):  # what the import system asks a module
            raise AttributeError(attribute)
        return _Absent(f"{name}.{attribute}")

    module.__getattr__ = absent
    return module


def load(name: str, own_package: str, root: str) -> tuple[types.ModuleType, list]:
    """Import the module NAME; return it and the stand-ins it needed. A module the grader
    cannot import, outside the submission's own package (torch, imported by a starter's
    fast_layers.py), or a module of the package other than NAME that does not compile
    (Python 2 prints in an old fast_layers.py), is replaced by a stand-in whose names fail
    only when used: the net never uses them. Anything else raises."""
    stood_in = []
    while True:
        try:
            return importlib.import_module(name), stood_in
        except ModuleNotFoundError as exc:
            missing = exc.name or ""
            if (not missing or missing.split(".")[0] == own_package
                    or len(stood_in) >= MAX_STAND_INS):
                raise  # a module of the submission's own package is missing: say so
            stood_in.append([missing, "not installed in the grader"])
        except SyntaxError as exc:
            missing = _module_of(exc.filename, root)
            if missing in (None, name) or len(stood_in) >= MAX_STAND_INS:
                raise
            stood_in.append([missing, f"SyntaxError, line {exc.lineno}: {exc.msg}"])
        sys.modules[missing] = _stand_in(missing)


def _module_of(filename, root):
    prefix = root.rstrip("/") + "/"
    if not filename or not filename.startswith(prefix) or not filename.endswith(".py"):
        return None
    return filename[len(prefix):-3].replace("/", ".").removesuffix(".__init__")


class Counter:
    """With the course's layer in place: its forward calls (``course``), and the calls that
    still reach the student's own functions (``own``: through a name :func:`rebind` could not
    reach, counted by a profile hook while a step runs)."""

    def __init__(self):
        self.course = 0
        self.own = 0
        self.keys = set()  # the student's functions, by _code_key

    def watch(self, own: dict) -> None:
        self.keys = {key for key in map(_code_key, own.values()) if key is not None}

    def _profile(self, frame, event, arg):
        if event == "call":
            code = frame.f_code
            if (code.co_filename, code.co_firstlineno, code.co_name) in self.keys:
                self.own += 1

    def run(self, step: Callable):
        """STEP(), counting the calls of the student's functions while it runs."""
        sys.setprofile(self._profile)
        try:
            return step()
        finally:
            sys.setprofile(None)


def course_layer(np: types.ModuleType, meaning: str, counter: Counter) -> dict:
    """The course's dropout layer (inverted dropout; p the probability of keeping a unit, or
    of dropping one where MEANING is "drop"), by name, its forward calls counted in COUNTER."""

    def dropout_forward(x, dropout_param):
        counter.course += 1
        p, mode = dropout_param["p"], dropout_param["mode"]
        keep = p if meaning == "keep" else 1 - p
        if "seed" in dropout_param:
            np.random.seed(dropout_param["seed"])
        mask = None
        out = x
        if mode == "train":
            mask = (np.random.rand(*x.shape) < keep) / keep
            out = x * mask
        return out.astype(x.dtype, copy=False), (dropout_param, mask)

    def dropout_backward(dout, cache):
        dropout_param, mask = cache
        return dout * mask if dropout_param["mode"] == "train" else dout

    return {"dropout_forward": dropout_forward, "dropout_backward": dropout_backward}


def substitute(layers: types.ModuleType, course: dict) -> dict:
    """Put the COURSE's functions in the student's LAYERS module, before the net is imported
    (so that ``from .layers import *`` and ``layers.dropout_forward`` take them); return the
    student's own, by name (None where the module has none)."""
    own = {name: getattr(layers, name, None) for name in LAYER}
    for name in LAYER:
        setattr(layers, name, course[name])
    return own


def rebind(root: str, course: dict, own: dict) -> None:
    """After the net's import: every name that a module of the submission (a file under ROOT),
    or a class it defines, gives to the student's own functions (``from .layers import
    dropout_forward as drop``, a helper module imported earlier, a static method) now gives
    the course's. A function counts as the student's by its code's file, line and name, so
    that a second import of the layers file counts too."""
    prefix = root.rstrip("/") + "/"
    wanted = {_code_key(function): course[name] for name, function in own.items()
              if _code_key(function) is not None}
    for module in list(sys.modules.values()):
        try:
            if not str(getattr(module, "__file__", None) or "").startswith(prefix):
                continue
            holders = [module, *(value for value in vars(module).values()
                                 if isinstance(value, type)
                                 and value.__module__ == module.__name__)]
            for holder in holders:
                for key, value in list(vars(holder).items()):
                    static = isinstance(value, staticmethod)
                    found = wanted.get(_code_key(value.__func__ if static else value))
                    if found is not None:
                        setattr(holder, key, staticmethod(found) if static else found)
        except Exception:  # a module the student made odd keeps its names
            continue


def _code_key(function):
    if not isinstance(function, types.FunctionType):
        return None
    code = function.__code__
    return code.co_filename, code.co_firstlineno, code.co_name


def signature(module: types.ModuleType) -> dict:
    """The constructor's parameters: [name, kind, default] (a default that is not a plain
    number, string, bool or None is sent as its type's name, marked "<type>")."""
    cls = getattr(module, CLASS, None)
    if cls is None:
        return {"class": None}
    described = []
    for parameter in inspect.signature(cls).parameters.values():
        default = parameter.default
        if default is inspect.Parameter.empty:
            default = None
            has_default = False
        else:
            has_default = True
            if type(default) not in (int, float, bool, str, type(None)) or (
                    type(default) is float and default - default != 0):  # inf and NaN: no JSON
                default = f"<{type(default).__name__} {default!r}>"[:100]
        described.append([parameter.name, parameter.kind.name, has_default, default])
    return {"class": CLASS, "parameters": described}


def run(module: types.ModuleType, steps: list, arrays: list, np: types.ModuleType,
        describe: Callable, failure: Callable, nets: dict, counter: Counter | None = None
        ) -> list:
    """Run STEPS against the student's class in MODULE; one answer per step. ARRAYS holds
    the arrays the steps name by index; DESCRIBE turns a value into its wire description,
    FAILURE an exception into the description of what was raised. NETS (name: net) keeps
    the nets built, for the steps of later plans. COUNTER, where the course's layer is in
    place, counts the calls of its forward and of the student's functions: each answer then
    says how many of each it made."""

    def array(index):
        return None if index is None else arrays[index].copy()  # the student may change it

    def scalar(value):
        """A loss that is one number, as a 0-d array of its own dtype (a float, an int, a
        complex: the grader judges which); anything else as it is."""
        if type(value) in (int, float, complex) or isinstance(value, np.generic | np.ndarray):
            number = np.asarray(value)
            if number.size == 1 and number.dtype.kind in "biufc":
                return number.reshape(())
        return value

    def real(value):
        """The loss as a Python float, for the numeric gradient; only a real number is one."""
        number = scalar(value)
        if not isinstance(number, np.ndarray) or number.dtype.kind not in "biuf":
            raise TypeError(f"the loss is {type(value).__name__}, not a real number")
        return float(number)

    def loss(step, net):
        if step.get("reseed") is not None:  # the same draws for a mask that skips the seed
            np.random.seed(step["reseed"])
        return net.loss(array(step["X"]), array(step.get("y")))

    def build(step):
        np.random.seed(step["seed"])  # the notebook's weights come from the global generator
        cls = getattr(module, CLASS)
        kwargs = dict(step["kwargs"])
        if "dtype" in kwargs:  # sent by name: the notebook passes np.float64 itself
            kwargs["dtype"] = np.dtype(kwargs["dtype"]).type
        net = cls(*step["args"], **kwargs)
        nets[step["net"]] = net
        source = nets.get(step.get("params_from"))
        if source is not None:  # the same weights as that net, whatever the constructor drew
            for key, value in source.params.items():
                mine = net.params.get(key)
                if isinstance(mine, np.ndarray) and getattr(value, "shape", None) == mine.shape:
                    np.copyto(mine, value)  # into the very array: the net may hold it elsewhere
                else:
                    net.params[key] = value.copy()
        return {}

    def train(step):
        out = loss(step, nets[step["net"]])
        if type(out) not in (tuple, list) or len(out) != 2:
            return {"returned": describe(out)}
        value, grads = out
        described = {"loss": describe(scalar(value))}
        if isinstance(grads, dict):
            described["grads"] = {name: describe(grads[name]) for name in step["names"]
                                  if name in grads}
        else:
            described["grads_type"] = type(grads).__name__
        return described

    def scores(step):
        return {"scores": describe(nets[step["net"]].loss(array(step["X"])))}

    def shifted(step):
        net, h, values = nets[step["net"]], step["h"], []
        for name, index in step["coords"]:
            weights = net.params[name]
            old = weights.flat[index]
            try:
                for delta in (h, -h):
                    weights.flat[index] = old + delta
                    values.append(real(loss(step, net)[0]))
            finally:  # the later steps see the net's own weights
                weights.flat[index] = old
        return {"losses": describe(np.array(values, dtype=np.float64).reshape(-1, 2))}

    def params(step):
        found = nets[step["net"]].params
        return {"params": {name: describe(found[name]) for name in step["names"]
                           if name in found}}

    kinds = {"build": build, "train": train, "scores": scores, "shifted": shifted,
             "params": params}
    answers = []
    for step in steps:
        if step.get("net") not in nets and step["op"] != "build":
            answers.append({"kind": "skipped"})  # its net was never built
            continue
        try:
            if counter is None:
                value = kinds[step["op"]](step)
            else:  # the profile hook costs: only for the steps the grader reads it from
                before = counter.course, counter.own
                value = (counter.run(lambda step=step: kinds[step["op"]](step))
                         if step.get("count") else kinds[step["op"]](step))
                value["layer_calls"] = counter.course - before[0]
                value["own_calls"] = counter.own - before[1]
            answers.append({"kind": "returned", "value": value})
        except BaseException as exc:  # the student's code: anything can happen, report it
            answers.append(failure(exc, exc.__traceback__))
    return answers
