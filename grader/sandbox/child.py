"""The programs that run outside the grader: the fork server and each submission's child.

The grader never imports student code. Each grading worker starts one fork server (see
:class:`grader.sandbox.server.ForkServer`), which takes the containment it was asked for
(:mod:`jail`), imports numpy once and nothing of the grader's, then clones a fresh child per
submission. The child confines itself, imports the student's module and answers requests
over two pipes (and, asked to, drives the student's FullyConnectedNet: :mod:`fcnet`).
Everything it sends back is plain data: JSON headers and raw array bytes (:mod:`wire`).
Standard library only (and numpy, in the child): this file and its siblings are imported as
top-level modules by the fork server, where ``grader`` is not importable.
"""

import json

import fcnet
import jail
from wire import HEADER, pack, split, write_all


def serve(control_fd: int, numpy_dir: str, level: str, root: str) -> None:
    """The fork server. It first answers {"ready": true} or {"failed": why}. Each request
    on the control socket (a SOCK_SEQPACKET message carrying the child's request, response
    and output pipes) starts one child; the server answers {"started": pid} (or {"failed":
    why}) and, when that process ends, {"exited": pid, "code": code}. {"sweep": pid} kills
    what the finished child PID left behind, where there are no namespaces to do it."""
    import os
    import select
    import signal
    import socket
    import sys

    sock = socket.socket(fileno=control_fd)
    os.umask(0o022)  # what it makes (the minimal root) a child of another uid must read

    def tell(message):
        sock.sendall(json.dumps(message).encode())

    try:
        jail.enter_server(level)  # before numpy: a user namespace needs a single thread
    except OSError as err:
        tell({"failed": f"{level} containment is not available here ({err})"})
        os._exit(0)
    jail.prctl(jail.PR_SET_PDEATHSIG, signal.SIGKILL)  # the server dies with its worker
    sys.path.insert(0, numpy_dir)
    # Imported once here and inherited by every child: what each child would import anyway.
    import importlib.util  # noqa: F401
    import resource  # noqa: F401
    import traceback  # noqa: F401

    import numpy

    numpy.random.seed(0)  # numpy.random loads lazily and costs more than a fork: load it here
    try:
        if level != "none":
            jail.build_root(root, numpy_dir)
    except OSError as err:
        tell({"failed": f"the minimal root could not be built ({err})"})
        os._exit(0)
    import gc

    gc.freeze()  # a child's collections then skip (and do not copy) the server's objects
    tell({"ready": True})
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    live = set()  # the children started and not yet ended or swept

    while True:
        readable, _, _ = select.select([sock, wake_r], [], [])
        if wake_r in readable:
            while True:
                try:
                    os.read(wake_r, 4096)
                except BlockingIOError:
                    break
            while True:
                try:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                if pid in live:
                    live.discard(pid)
                    tell({"exited": pid, "code": os.waitstatus_to_exitcode(status)})
        if sock not in readable:
            continue
        message, fds, _, _ = socket.recv_fds(sock, 1 << 16, 4)
        if not message:  # the worker is done: nothing of its children may stay
            if level == "none":  # elsewhere they die with their PID namespace and with us
                jail.sweep(set())
            os._exit(0)
        request = json.loads(message)
        if "sweep" in request:
            live.discard(request["sweep"])
            jail.sweep(live)
            continue
        try:
            pid = jail.clone(level)
        except OSError as err:
            for fd in fds:
                os.close(fd)
            tell({"failed": f"no child could be started ({err})"})
            continue
        if pid == 0:
            try:
                sock.close()
                for fd in (wake_r, wake_w):
                    os.close(fd)
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                _start_child(request, fds, level, root)
            finally:
                os._exit(70)
        live.add(pid)
        for fd in fds:
            os.close(fd)
        tell({"started": pid})


def _start_child(request: dict, fds: list, level: str, root: str) -> None:
    """In the new process: a session of its own, confined (PID 1 of its own namespaces where
    the level has them), then the submission."""
    import os

    os.setsid()
    req_r, resp_w, out_w = fds
    try:
        cap, unconfined = jail.confine(level, root, request["workdir"]), None
    except OSError as err:
        cap, unconfined = None, str(err)
    if level == "none":
        os.chdir(request["workdir"])
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(out_w, 1)
    os.dup2(out_w, 2)
    os.environ.clear()
    os.environ.update(request["env"])
    _main(req_r, resp_w, unconfined, cap)
    os._exit(0)


def _main(request_fd: int, response_fd: int, unconfined: str | None, cap: int | None) -> None:
    import builtins
    import os
    import resource
    import sys
    import traceback

    def read_exact(n):
        data, done = bytearray(n), 0
        while done < n:
            got = os.readv(request_fd, [memoryview(data)[done:]])
            if not got:
                os._exit(0)  # the grader closed the pipe: nothing more to do
            done += got
        return data

    def receive():
        text_len, blob_len = HEADER.unpack(read_exact(HEADER.size))
        header = json.loads(read_exact(text_len))
        return header, split(read_exact(blob_len), header.pop("blobs"))

    def send(header, blobs=()):
        write_all(response_fd, pack(header, list(blobs)))

    # Student code may replace builtins; this program keeps the real ones.
    isinstance_, type_ = builtins.isinstance, builtins.type
    setup, _ = receive()
    if unconfined is not None:  # never run the submission with less than was announced
        send({"kind": "unconfined", "message": unconfined})
        os._exit(0)
    for name, value in setup["rlimits"].items():
        try:
            resource.setrlimit(getattr(resource, name), (value, value))
        except (ValueError, OSError):
            pass
    sys.dont_write_bytecode = True  # never write __pycache__ into a submission
    import numpy as np

    np.random.seed(setup["rng_seed"])
    sent_kinds = set(setup["dtypes"])
    handles = {}

    def describe(value, blobs, keep, limit):
        described = describe_value(value, blobs, limit)
        if keep:
            handles[len(handles) + 1] = value
            described["handle"] = len(handles)
        return described

    def describe_value(value, blobs, limit):
        if isinstance_(value, np.ndarray):
            base = np.ndarray.view(value, np.ndarray)
            if base.dtype.str not in sent_kinds:
                return {"kind": "object", "type": f"ndarray of dtype {base.dtype}"}
            if base.nbytes > limit[0]:
                return {"kind": "too_large", "type": "ndarray", "shape": list(base.shape),
                        "nbytes": int(base.nbytes)}
            limit[0] -= base.nbytes
            blobs.append(np.ascontiguousarray(base).tobytes())
            return {"kind": "array", "dtype": base.dtype.str, "shape": list(base.shape),
                    "blob": len(blobs) - 1}
        return {"kind": "object", "type": type_(value).__name__}

    def describe_returned(value, blobs, keep, limit):
        if type_(value) is tuple and len(value) <= 4:
            # Only what follows the output (the cache) is kept for a later call.
            return {"kind": "tuple", "items": [describe(item, blobs, keep and i > 0, limit)
                                               for i, item in enumerate(value)]}
        return describe(value, blobs, keep, limit)

    def decode(arg, blobs):
        if arg["kind"] == "array":
            # a copy of its own for each call: calls of a batch may share an input's bytes,
            # and the student may change the array in place
            array = np.frombuffer(blobs[arg["blob"]], dtype=arg["dtype"]).reshape(arg["shape"])
            array = array.copy()
            return array.T if arg.get("transpose") else array
        if arg["kind"] == "handle":
            return handles[arg["id"]]
        if arg["kind"] == "cache":
            mask = None if arg["mask"] is None else decode(arg["mask"], blobs)
            return (fresh(arg["param"]), mask)
        return fresh(arg["value"])

    def fresh(value):
        """A JSON value of its own (calls of a batch may share one; the student may change it)."""
        if type_(value) is dict:
            return {k: fresh(v) for k, v in value.items()}
        return [fresh(v) for v in value] if type_(value) is list else value

    def failure(exc, tb):
        frames = traceback.extract_tb(tb)[-30:]
        try:
            message = str(exc)[:2000]
        except BaseException:
            message = "(the exception's message could not be shown)"
        return {"kind": "raised", "type": type_(exc).__name__, "message": message,
                "memory": isinstance_(exc, MemoryError),
                "syntax": [getattr(exc, "filename", None), getattr(exc, "lineno", None)]
                if isinstance_(exc, SyntaxError) else None,
                "frames": [[f.filename, f.lineno, f.name, f.line] for f in frames]}

    try:
        sys.path.insert(0, setup["root"])
        if setup["package"]:
            import importlib

            module = importlib.import_module(setup["module"])
        else:
            import importlib.util

            spec = importlib.util.spec_from_file_location("submission", setup["file"])
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        # the student's own functions, whatever the net's course layer later puts in place
        own = {name: getattr(module, name, None) for name in setup["functions"]}
        send({"kind": "loaded", "functions": {name: callable(f) for name, f in own.items()},
              "nproc": cap})
    except BaseException as exc:  # the student's import: anything can happen, report it
        send(failure(exc, exc.__traceback__))
        os._exit(0)

    def argument_lists(call, blobs):
        """CALL's arguments; with "shifts", one list per (flat index, delta), its first argument
        (x) with that element moved."""
        if "shifts" not in call:
            yield [decode(arg, blobs) for arg in call["args"]]
            return
        for index, delta in call["shifts"]:
            args = [decode(arg, blobs) for arg in call["args"]]  # copies of their own
            args[0].flat[index] += delta
            yield args

    def run(function, args):
        """(True, returned, args) or (False, failure description, None)."""
        try:
            mine = own.get(function)
            return True, (getattr(module, function) if mine is None else mine)(*args), args
        except BaseException as exc:  # student code: SystemExit and friends included
            return False, failure(exc, exc.__traceback__), None

    def describe_outcome(outcome, call, out_blobs, limit):
        ok, returned, args = outcome
        if not ok:
            return returned
        result = {"kind": "returned",
                  "value": describe_returned(returned, out_blobs, call["keep"], limit)}
        if call["args_after"]:
            result["args_after"] = [describe(a, out_blobs, False, limit) for a in args]
        return result

    def first_output(outcome):
        """The ndarray a call returned first in its tuple, or None."""
        ok, returned, _ = outcome
        if ok and type_(returned) is tuple and 1 <= len(returned) <= 4:
            if isinstance_(returned[0], np.ndarray):
                out = np.ndarray.view(returned[0], np.ndarray)
                return out if out.dtype.str in sent_kinds else None
        return None

    # the student's net module once asked for (its module and stand-ins, or the failure),
    # the nets its plans built, and the course's layer where the first plan asked for it
    net = {"nets": {}, "counter": None}

    def answer_net(plan, blobs, out_blobs, limit):
        """A plan for the student's FullyConnectedNet (see fcnet.run), answered."""
        if "module" not in net and "failure" not in net:
            try:
                if plan.get("course_layer"):
                    net["counter"] = fcnet.Counter()
                    course = fcnet.course_layer(np, plan["course_layer"], net["counter"])
                    mine = fcnet.substitute(module, course)
                    net["counter"].watch(mine)
                net["module"], net["stand_ins"] = fcnet.load(
                    plan["module"], plan["module"].split(".")[0], setup["root"])
                if plan.get("course_layer"):
                    fcnet.rebind(setup["root"], course, mine)
            except BaseException as exc:
                net["failure"] = failure(exc, exc.__traceback__)
        reply = {"kind": "net", "stand_ins": net.get("stand_ins", [])}
        if "failure" in net:
            reply["import"] = net["failure"]
            return reply
        if plan["signature"]:
            try:
                reply["signature"] = fcnet.signature(net["module"])
            except BaseException as exc:
                reply["signature"] = failure(exc, exc.__traceback__)
        arrays = [decode(spec, blobs) for spec in plan["arrays"]]
        reply["answers"] = fcnet.run(net["module"], plan["steps"], arrays, np,
                                     lambda value: describe_value(value, out_blobs, limit),
                                     failure, net["nets"], net["counter"])
        return reply

    while True:
        request, blobs = receive()
        results, out_blobs, limit = [], [], [request["max_bytes"]]
        if "net" in request:
            send(answer_net(request["net"], blobs, out_blobs, limit), out_blobs)
            continue
        # A batch asked to stack (the numeric gradient's) sends the first outputs of its calls
        # as one array, as long as they are arrays alike within the byte budget; the first
        # call that breaks this turns the batch back into one description per call.
        held, outs, room = [], [], limit[0] if request.get("stack") else -1
        for call in request["calls"]:
            for args in argument_lists(call, blobs):
                outcome = run(call["function"], args)
                if room >= 0:
                    out = first_output(outcome)
                    if out is not None and out.nbytes <= room and (
                            not outs or (out.shape, out.dtype) == (outs[0].shape, outs[0].dtype)):
                        held.append((outcome, call))
                        outs.append(out)
                        room -= out.nbytes
                        continue
                    results = [describe_outcome(o, c, out_blobs, limit) for o, c in held]
                    held, outs, room = [], [], -1
                results.append(describe_outcome(outcome, call, out_blobs, limit))
        if outs:
            send({"kind": "stacked", "value": describe_value(np.stack(outs), out_blobs, limit)},
                 out_blobs)
        else:
            send({"kind": "results", "results": results}, out_blobs)
