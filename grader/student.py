"""The checks' view of a submission: call its functions through the sandbox, get arrays back.

Every value returned here was rebuilt in the grader from bytes, dtype and shape. Failures of
the student's code arrive as :class:`StudentError`, whose message is feedback for the student.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TypeVar

import numpy as np

from grader import misconceptions
from grader.discover import Target
from grader.sandbox.box import Died, Sandbox, decode_array, size

SLACK_BYTES = 1 << 20
NET_BYTES = 32 << 20  # what the net's answers may hold: its gradients and parameters
VALUE_KINDS = ("array", "object", "too_large")
K = TypeVar("K")


class StudentError(Exception):
    """The student's code failed to give a usable answer. ``status`` is set when the failure
    says something about the whole submission (timeout, crash, memory, error, missing)."""

    def __init__(self, message: str, misconception: str | None = None,
                 status: str | None = None):
        super().__init__(message)
        self.message = message
        self.misconception = misconception
        self.status = status


@dataclass(frozen=True)
class Foreign:
    """A returned value that is not an ndarray: only its type crossed over."""

    type: str
    too_large: str | None = None

    def __str__(self) -> str:
        if self.too_large:
            return self.too_large
        return "None" if self.type == "NoneType" else f"a {self.type}"


Value = np.ndarray | Foreign


@dataclass(frozen=True)
class Call:
    """One call's outcome: what it returned, and its array arguments as they were after it."""

    function: str
    returned: tuple[Value, ...] | Value
    args_after: tuple[Value, ...]
    handle: int | None = None

    def array(self, index: int | None, what: str) -> np.ndarray:
        """The returned array (``index`` into a returned tuple), or a teaching StudentError."""
        value = self.returned
        if index is not None:
            if not isinstance(value, tuple) or len(value) <= index:
                raise StudentError(f"{self.function} returned {_describe(value)}; it should "
                                   f"return the pair (out, cache)",
                                   "not_implemented" if _is_none(value) else None)
            value = value[index]
        if isinstance(value, np.ndarray):
            return value
        if _is_none(value):
            raise StudentError(f"{self.function} returned None instead of {what}",
                               "not_implemented")
        raise StudentError(f"{self.function} returned {value} instead of {what} (an ndarray)")


@dataclass(frozen=True)
class Attempt:
    """One call of a batch: its Call, or the StudentError it failed with, raised by get()."""

    call: Call | None = None
    error: StudentError | None = None

    def get(self) -> Call:
        if self.error is not None:
            raise self.error
        return self.call


def _is_none(value: tuple | Value) -> bool:
    return isinstance(value, Foreign) and value.type == "NoneType" and not value.too_large


def _describe(value: tuple | Value) -> str:
    if isinstance(value, tuple):
        return f"a tuple of {len(value)} items"
    return "an ndarray" if isinstance(value, np.ndarray) else str(value)


class Student:
    """Calls into one submission's sandbox. With a problem (a bad zip), no target, a failed
    import or a child that died, every call raises the StudentError that explains why: in
    full the first time (``told``), then only that the call did not run, and why."""

    def __init__(self, sandbox: Sandbox | None, target: Target | None,
                 problem: str | None = None, fc_net: tuple[str, str] | None = None):
        self.sandbox = sandbox
        self.target = target
        self.problem = problem
        self.fc_net = fc_net  # its FullyConnectedNet's module and file, if it holds one
        self.told: str | None = None  # the submission-wide failure, said in full once
        self.staff_hint: str | None = None  # what the course staff can do about it

    def forward(self, x: np.ndarray | Transposed, param: dict, *,
                inputs_after: bool = False) -> Call:
        """``dropout_forward(x, param)``; the cache stays in the child under ``Call.handle``.
        With INPUTS_AFTER, ``Call.args_after`` holds x as the call left it."""
        return self.forward_all({0: (x, param)}, inputs_after=inputs_after)[0].get()

    def forward_all(self, calls: dict[K, tuple[np.ndarray | Transposed, dict]], *,
                    inputs_after: bool = False) -> dict[K, Attempt]:
        """:meth:`forward` for each KEY: (x, param), all in one round trip; each key's
        Attempt holds its Call or its failure."""
        return self._attempts("dropout_forward", calls, keep=True, inputs_after=inputs_after)

    def forward_shifted(self, x: np.ndarray, param: dict,
                        shifts: list[tuple[int, float]]) -> np.ndarray:
        """The outputs of ``dropout_forward`` at x with one element moved per call (flat index,
        delta), stacked: shape (len(shifts), *x.shape). One round trip: x crosses once, each
        call gets its own shifted copy, and the outputs come back as one array. Raises the
        StudentError of the first call that gave no output of x's shape."""
        calls = self._calls("dropout_forward", [[x, param]], keep=False, inputs_after=False,
                            shifts=shifts)
        if isinstance(calls, np.ndarray):
            outs = calls
        else:
            outs = [attempt.get().array(0, "out") for attempt in calls]
            outs = np.stack(outs) if all(o.shape == x.shape for o in outs) else None
        if outs is None or outs.shape != (len(shifts), *x.shape):
            raise StudentError("dropout_forward returned outputs whose shape is not x's")
        return outs

    def backward(self, dout: np.ndarray, cache: int | tuple[dict, np.ndarray | None]) -> Call:
        """``dropout_backward(dout, cache)``: a handle from :meth:`forward`, or a
        ``(dropout_param, mask)`` pair built in the child."""
        return self.backward_all({0: (dout, cache)})[0].get()

    def backward_all(self, calls: dict[K, tuple[np.ndarray, int | tuple | None]]
                     ) -> dict[K, Attempt]:
        """:meth:`backward` for each KEY: (dout, cache), all in one round trip."""
        missing = StudentError("dropout_forward returned no cache to give dropout_backward")
        attempts = self._attempts("dropout_backward",
                                  {k: (d, _Cache(c)) for k, (d, c) in calls.items()
                                   if c is not None}, keep=False, inputs_after=False)
        return {k: attempts.get(k, Attempt(error=missing)) for k in calls}

    def net(self, module: str, display: str, steps: list[dict], arrays: list[np.ndarray],
            what: str, course_layer: str | None = None) -> NetReply:
        """Run STEPS (see the child's ``fcnet.run``) on the FullyConnectedNet of MODULE (the
        file DISPLAY), with ARRAYS, in one round trip (WHAT it runs, as a timeout tells it).
        COURSE_LAYER ("keep" or "drop": what p means to it), asked in the first round trip,
        puts the course's dropout layer in place of the student's for every net. Raises
        StudentError when the module cannot be imported or the child is gone; a step's own
        failure is its answer."""
        box = self._ready(None)
        sent: list[np.ndarray] = []
        plan = {"module": module, "steps": steps, "signature": not steps,
                "course_layer": course_layer, "arrays": [_wire_array(a, sent) for a in arrays]}
        budget = NET_BYTES + 4 * sum(a.nbytes for a in arrays)
        try:
            reply, blobs = box.net(plan, sent, what, budget)
        except Died as died:
            self.told = self.told or died.message
            raise StudentError(died.message, status=died.status) from None
        stand_ins = reply.get("stand_ins")
        stand_ins = [(str(s[0]), str(s[1])) for s in
                     (stand_ins if isinstance(stand_ins, list) else [])
                     if isinstance(s, list) and len(s) == 2]
        if isinstance(reply.get("import"), dict):  # the layer checks ran: no "does not import"
            raise StudentError(self._import_message(reply["import"], display))
        signature = reply.get("signature")
        if isinstance(signature, dict) and signature.get("kind") == "raised":
            signature = StudentError(self._raised_message(
                "inspect.signature(FullyConnectedNet)", signature))
        elif not isinstance(signature, dict):
            signature = {}
        answers = reply.get("answers")
        if not isinstance(answers, list) or len(answers) != len(steps):
            raise StudentError(f"{display}: the process sent a malformed answer",
                               status="error")
        answers = [self._net_answer(step, answer, blobs)
                   for step, answer in zip(steps, answers, strict=True)]
        failed = {step["net"]: answer for step, answer in zip(steps, answers, strict=True)
                  if step["op"] == "build" and isinstance(answer, StudentError)}
        # a step whose net was never built fails as its constructor did
        answers = [failed.get(step["net"], answer) if _skipped(answer) else answer
                   for step, answer in zip(steps, answers, strict=True)]
        return NetReply(signature, stand_ins, answers)

    # -- plumbing ---------------------------------------------------------------------------

    def _net_answer(self, step: dict, answer: dict, blobs: list[bytes]) -> dict | StudentError:
        if not isinstance(answer, dict) or answer.get("kind") == "skipped":
            return StudentError(NOT_BUILT)
        if answer.get("kind") == "raised":
            py2 = misconceptions.python2(str(answer.get("type")), str(answer.get("message")))
            return StudentError(self._raised_message(step.get("what", step["op"]), answer),
                                "python2" if py2 else None,
                                status="memory" if answer.get("memory") else None)
        value = answer.get("value")
        return self._tree(value, blobs) if isinstance(value, dict) else {}

    def _tree(self, value: dict, blobs: list[bytes], depth: int = 0) -> dict:
        """A dict of the child's answer with its array descriptions made into Values."""
        tree = {}
        for key, item in list(value.items())[:64]:
            if isinstance(item, dict) and item.get("kind") in VALUE_KINDS:
                tree[str(key)] = self._value(item, blobs)
            elif isinstance(item, dict) and depth < 2:
                tree[str(key)] = self._tree(item, blobs, depth + 1)
            else:
                tree[str(key)] = item if type(item) in (str, int, float, bool) else None
        return tree

    def _once(self, full: str, why: str) -> str:
        """FULL the first time a submission-wide failure is told; after, that it did not run
        and WHY, in a few words."""
        if self.told is None:
            self.told = full
            return full
        return f"not run: {why} (see above)"

    def _ready(self, function: str | None) -> Sandbox:
        if self.problem:
            raise StudentError(self._once(self.problem, "the submission could not be read"),
                               status="error")
        if self.target is None:
            raise StudentError("no cs231n/layers.py, layers.py or other .py file defining "
                               "dropout_forward was found in the submission",
                               "not_implemented", status="missing")
        box = self.sandbox
        if box.dead:
            raise StudentError(self._once(box.dead.message, "the submission's process had "
                                          f"ended ({box.dead.status})"), status=box.dead.status)
        if box.load_failure:
            first = self.told is None  # the advice goes with the full story only
            raise StudentError(self._once(self._import_message(box.load_failure),
                                          f"{self.target.display} could not be imported"),
                               "does_not_import" if first else None,
                               status="memory" if box.load_failure.get("memory") else "error")
        if function is not None and not box.functions.get(function):
            raise StudentError(f"{function} is not defined in {self.target.display}",
                               "not_implemented")
        return box

    def _attempts(self, function: str, calls: dict[K, tuple], keep: bool,
                  inputs_after: bool) -> dict[K, Attempt]:
        """One round trip for CALLS (key: arguments); a failure of the whole batch (no such
        function, a dead child) is every call's."""
        if not calls:
            return {}
        try:
            outcomes = self._calls(function, [list(args) for args in calls.values()], keep,
                                   inputs_after)
        except StudentError as err:
            return dict.fromkeys(calls, Attempt(error=err))
        return dict(zip(calls, outcomes, strict=True))

    def _calls(self, function: str, arglists: list[list], keep: bool, inputs_after: bool,
               shifts: list[tuple[int, float]] | None = None) -> list[Attempt] | np.ndarray:
        """One round trip; with SHIFTS (one call, run once per shift), the outputs stacked
        when they all are arrays alike."""
        box = self._ready(function)
        arrays: list[np.ndarray] = []
        wire_calls, input_bytes = [], 0
        for args in arglists:
            wire_args = []
            for arg in args:
                if isinstance(arg, _Cache):
                    wire_args.append(arg.wire(arrays))
                elif isinstance(arg, np.ndarray | Transposed):
                    wire_args.append(_wire_array(arg, arrays))
                    input_bytes += _base(arg).nbytes
                else:
                    wire_args.append({"kind": "json", "value": arg})
            wire_calls.append({"function": function, "args": wire_args, "keep": keep,
                               "args_after": inputs_after})
        if shifts is not None:  # one call per shift, all of its arguments as given
            wire_calls[0]["shifts"] = [[int(i), float(d)] for i, d in shifts]
            input_bytes *= len(shifts)
        budget = 4 * input_bytes + SLACK_BYTES
        try:
            results, blobs = box.call(wire_calls, arrays, function, budget,
                                      stack=shifts is not None)
        except Died as died:
            self.told = self.told or died.message
            raise StudentError(died.message, status=died.status) from None
        if isinstance(results, dict):  # the stacked outputs
            stacked = self._value(results, blobs)
            if not isinstance(stacked, np.ndarray):
                raise StudentError(f"{function}: the process sent a malformed answer",
                                   status="error")
            return stacked
        modes = [args[1].get("mode") if len(args) > 1 and isinstance(args[1], dict) else None
                 for args in arglists]
        # with shifts, one argument list serves every call
        return [self._attempt(function, result, blobs, modes[min(i, len(modes) - 1)])
                for i, result in enumerate(results)]

    def _attempt(self, function: str, result: dict, blobs: list[bytes],
                 mode: str | None = None) -> Attempt:
        try:
            return Attempt(call=self._decode(function, result, blobs, mode))
        except StudentError as err:
            return Attempt(error=err)

    def _decode(self, function: str, result: dict, blobs: list[bytes],
                mode: str | None = None) -> Call:
        if result.get("kind") == "raised":
            cause = misconceptions.from_exception(function, str(result.get("type")),
                                                  str(result.get("message")))
            raise StudentError(self._raised_message(function, result, mode, cause), cause,
                               status="memory" if result.get("memory") else None)
        value, handle = result.get("value"), None
        items = value.get("items") if isinstance(value, dict) else None
        if isinstance(value, dict) and value.get("kind") == "tuple" and isinstance(items, list):
            returned = tuple(self._value(v, blobs) for v in items[:4])
            if len(items) == 2 and isinstance(items[1], dict):
                handle = items[1].get("handle")
        else:
            returned = self._value(value, blobs)
        after = result.get("args_after")
        after = tuple(self._value(v, blobs) for v in after) if isinstance(after, list) else ()
        return Call(function, returned, after, handle if type(handle) is int else None)

    @staticmethod
    def _value(spec: dict, blobs: list[bytes]) -> Value:
        if not isinstance(spec, dict):
            return Foreign("unknown value")
        if spec.get("kind") == "array":
            array = decode_array(spec, blobs)
            return array if array is not None else Foreign("malformed array")
        if spec.get("kind") == "too_large":
            shape, nbytes = spec.get("shape"), spec.get("nbytes")
            if not (isinstance(shape, list) and all(type(n) is int for n in shape)
                    and type(nbytes) is int):
                return Foreign("malformed array")
            return Foreign("ndarray", too_large=(
                f"an array of shape {tuple(shape)} ({nbytes:,} bytes), far larger than its "
                "input; it was refused"))
        return Foreign(str(spec.get("type", "unknown value"))[:100])

    def _student_frames(self, result: dict) -> list[str]:
        root = self.sandbox.child_root + "/"
        lines = []
        frames = result.get("frames")
        for frame in frames if isinstance(frames, list) else []:
            try:
                filename, lineno, name, text = frame
            except (TypeError, ValueError):
                continue
            filename = str(filename)
            if not filename.startswith(root):
                continue
            lines.append(f'  File "{filename[len(root):]}", line {lineno}, in {name}')
            if text:
                lines.append(f"    {str(text).strip()[:200]}")
        return lines[-12:]

    def _raised_message(self, function: str, result: dict, mode: str | None = None,
                        cause: str | None = None) -> str:
        """What FUNCTION raised, and where in the student's files; with the cause the error
        itself shows (CAUSE: a branch of MODE left `out` as None; Python 2 code)."""
        type_name, message = str(result.get("type")), str(result.get("message"))
        frames = self._student_frames(result)
        if result.get("memory"):
            head = (f"{function} exceeded the {size(self.sandbox.limits.memory)} memory limit "
                    f"({type_name} while allocating: {message})")
        elif type_name == "SystemExit":
            head = f"{function} called sys.exit({message})"
        else:
            head = f"{function} raised {type_name}: {message}"
        if cause == "out_left_none" and mode in ("train", "test"):
            where = [f for f in frames if f.startswith('  File "')]
            line = re.search(r", line (\d+),", where[-1]) if where else None
            head += (f": its {mode} branch leaves out as None, so `out.astype` fails"
                     + (f" on line {line.group(1)}" if line else ""))
        return "\n".join([head, *frames])

    def _import_message(self, result: dict, display: str | None = None) -> str:
        """What went wrong importing DISPLAY (the layer file by default)."""
        display = display or self.target.display
        type_name, message = str(result.get("type")), str(result.get("message"))
        syntax = result.get("syntax")
        if isinstance(syntax, list) and len(syntax) == 2 and syntax[1] is not None:
            where = display
            root = self.sandbox.child_root
            if isinstance(syntax[0], str) and syntax[0].startswith(root + "/"):
                where = syntax[0][len(root) + 1:]
            text = f"{type_name} in {where}, line {syntax[1]}: {message.split(' (', 1)[0]}"
            if "print" in message and "parentheses" in message:
                text += " (Python 2 syntax: this grader runs Python 3)"
            return text
        if type_name == "SystemExit":
            return f"{display} exited during import (SystemExit {message})"
        frames = self._student_frames(result)
        hint = []
        missing = re.search(r"No module named '(cs231n[\w.]*)'", message)
        if self.sandbox.starter is None and (missing or "relative import" in message):
            # what the student can do; the course staff's way is theirs (see staff_hint)
            name = PurePosixPath(display).name
            module = missing.group(1) if missing else ""
            if module == "cs231n":  # the package itself: the import line names the module
                lines = [str(f[3]) for f in result.get("frames") or []
                         if isinstance(f, list) and len(f) == 4]
                named = re.search(r"(?:from|import)\s+(cs231n\.[\w.]+)", lines[-1] if lines
                                  else "")
                module = named.group(1) if named else module
            if "." in module:
                advice = (f"Your repository lacks {module.replace('.', '/')}.py, which "
                          f"your {name} imports: add it from the course's starter code.")
            else:
                advice = (f"Your {name} imports modules of the course's cs231n package, which "
                          "your submission does not hold: hand in the whole cs231n folder, or "
                          "add the modules it imports from the course's starter code.")
            hint = [advice]
            self.staff_hint = ("it imports modules of the course's starter code that it does "
                               "not hold: grade it over the starter with `grade --starter DIR`")
        elif misconceptions.python2(type_name, message):
            hint = ["This is Python 2 code: this grader runs Python 3."]
        return "\n".join([f"{display} could not be imported: {type_name}: {message}",
                          *frames, *hint])


NOT_BUILT = "not run: the net was not built"


def _skipped(answer: dict | StudentError) -> bool:
    return isinstance(answer, StudentError) and answer.message == NOT_BUILT


@dataclass(frozen=True)
class NetReply:
    """The child's answer to a plan for the FullyConnectedNet: the constructor's signature
    (``fcnet.signature``'s dict, or what inspecting it raised), the stand-in modules its
    import needed (name, why), and each step's answer: a dict of Values, or its failure."""

    signature: dict | StudentError
    stand_ins: list[tuple[str, str]]
    answers: list[dict | StudentError]


@dataclass(frozen=True)
class Transposed:
    """x.T as the student's function sees it: a non-contiguous view, made in the child."""

    x: np.ndarray


def _base(arg: np.ndarray | Transposed) -> np.ndarray:
    """The array that crosses to the child for ARG."""
    return arg.x if isinstance(arg, Transposed) else arg


def _wire_array(arg: np.ndarray | Transposed, arrays: list[np.ndarray]) -> dict:
    """The wire form of an array argument; each distinct array crosses once per round trip."""
    array = _base(arg)
    blob = next((i for i, a in enumerate(arrays) if a is array), None)
    if blob is None:
        blob = len(arrays)
        arrays.append(array)
    spec = {"kind": "array", "blob": blob, "dtype": array.dtype.str, "shape": list(array.shape)}
    if isinstance(arg, Transposed):
        spec["transpose"] = True
    return spec


@dataclass(frozen=True)
class _Cache:
    """A cache argument: a handle kept in the child, or a (param, mask) pair to build there."""

    cache: int | tuple

    def wire(self, arrays: list[np.ndarray]) -> dict:
        if isinstance(self.cache, int):
            return {"kind": "handle", "id": self.cache}
        param, mask = self.cache
        wire_mask = None if mask is None else _wire_array(mask, arrays)
        return {"kind": "cache", "param": param, "mask": wire_mask}
