"""The programs that run outside the grader: the fork server and each submission's child.

The grader never imports student code. Each grading worker starts one fork server,
``python -I -S -u -c <this file's source> serve ...``, which imports numpy once and nothing of
the grader's, then forks a fresh child per submission: in its own session, with its own PID and
mount namespaces where the machine allows, a fresh working directory, and limits. The child
imports the student's module and answers requests over two pipes. Everything it sends back is
plain data: JSON headers and raw array bytes.

The grader imports this module too, for the frame format (``pack`` / ``HEADER``), so the
two sides cannot drift apart. Only the standard library is imported at module level.

Wire format, both directions: a frame is ``HEADER`` (JSON length, total blob length),
the JSON header, then the blobs back to back. Arrays travel as
``{"kind": "array", "dtype": "<f8", "shape": [..], "blob": i}``; any other value as
``{"kind": "object", "type": "<type name>"}`` (plus ``"handle"`` when it is kept here).
"""

import json
import struct

HEADER = struct.Struct(">II")
COALESCE = 1 << 18


def pack(header: dict, blobs: list) -> list:
    """One frame, as the buffers to write in order: HEADER and the JSON header (blob sizes
    added under "blobs"), then the blobs themselves, not copied."""
    sizes = [memoryview(b).nbytes for b in blobs]
    text = json.dumps(dict(header, blobs=sizes), separators=(",", ":")).encode()
    head = HEADER.pack(len(text), sum(sizes)) + text
    if sum(sizes) < COALESCE:  # many small blobs: one write beats one per blob
        return [b"".join([head, *blobs])]
    return [head, *blobs]


def split(data: bytearray, sizes: list) -> list:
    """The blobs of a frame, as views into the one buffer they were read into."""
    view, blobs, start = memoryview(data), [], 0
    for size in sizes:
        blobs.append(view[start : start + size])
        start += size
    return blobs


def write_all(fd: int, parts: list, wait=None) -> None:
    """Write every buffer of PARTS to FD; WAIT() is called before each write (it may raise)."""
    import os

    for part in parts:
        view = memoryview(part)
        view = view.cast("B") if view.nbytes else b""
        while view:
            if wait is not None:
                wait()
            view = view[os.write(fd, view[: 1 << 20]) :]


CLONE_NEWNS, CLONE_NEWPID = 0x00020000, 0x20000000
SYS_CLONE = {"x86_64": 56, "aarch64": 220}  # clone(flags, stack, ...): the same on both
MS_REC, MS_PRIVATE = 16384, 1 << 18
PR_SET_PDEATHSIG = 1


def serve(control_fd: int, numpy_dir: str) -> None:
    """The fork server. Each request on the control socket (a SOCK_SEQPACKET message carrying
    the child's request, response and output pipes) starts one child; the server answers
    {"started": pid} and, when that process ends, {"exited": pid, "code": code}."""
    import ctypes
    import ctypes.util
    import os
    import select
    import signal
    import socket
    import sys

    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the server dies with its grading worker
    api = ctypes.pythonapi
    syscall = ctypes.PyDLL(None).syscall  # called holding the GIL, as os.fork forks
    syscall.restype = ctypes.c_long
    sys.path.insert(0, numpy_dir)
    # Imported once here and inherited by every child: what each child would import anyway.
    import importlib.util  # noqa: F401
    import resource  # noqa: F401
    import traceback  # noqa: F401

    import numpy

    numpy.random.seed(0)  # numpy.random loads lazily and costs more than a fork: load it here
    import gc

    gc.freeze()  # a child's collections then skip (and do not copy) the server's objects

    sock = socket.socket(fileno=control_fd)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    host_ns = os.readlink("/proc/self/ns/mnt")

    def tell(message):
        sock.sendall(json.dumps(message).encode())

    def fork(namespaces):
        """os.fork(); with NAMESPACES, the child is born in new PID and mount namespaces
        (PID 1 of its own), by clone(2) done as os.fork does it. Falls back to os.fork()."""
        number = SYS_CLONE.get(os.uname().machine)
        if not namespaces or number is None:
            return os.fork()
        api.PyOS_BeforeFork()
        pid = syscall(number, CLONE_NEWNS | CLONE_NEWPID | signal.SIGCHLD, 0, 0, 0, 0)
        if pid == 0:
            api.PyOS_AfterFork_Child()
            return 0
        api.PyOS_AfterFork_Parent()
        return pid if pid > 0 else os.fork()

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
                tell({"exited": pid, "code": os.waitstatus_to_exitcode(status)})
        if sock in readable:
            message, fds, _, _ = socket.recv_fds(sock, 1 << 16, 4)
            if not message:
                os._exit(0)
            request = json.loads(message)
            pid = fork(request["namespaces"])
            if pid == 0:
                try:
                    sock.close()
                    for fd in (wake_r, wake_w):
                        os.close(fd)
                    signal.set_wakeup_fd(-1)
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    _start_child(request, fds, libc, host_ns)
                finally:
                    os._exit(70)
            for fd in fds:
                os.close(fd)
            tell({"started": pid})


def _start_child(request: dict, fds: list, libc, host_ns: str) -> None:
    """In the new process (PID 1 of its own PID namespace where the machine allows): a session
    of its own, mounts that no longer propagate to the host's, then the submission."""
    import os
    import signal

    os.setsid()
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.readlink("/proc/self/ns/mnt") != host_ns:
        if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
            os._exit(72)
    req_r, resp_w, out_w = fds
    os.chdir(request["workdir"])
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(out_w, 1)
    os.dup2(out_w, 2)
    os.environ.clear()
    os.environ.update(request["env"])
    _main(req_r, resp_w, host_ns, libc)
    os._exit(0)


def seal_filesystem(writable: str, libc) -> bool:
    """In a private mount namespace (made by the grader with unshare), make every mount
    read-only except WRITABLE. Only per-mount flags change (MS_BIND | MS_REMOUNT): the
    grader's own view of the filesystem is untouched. False if it could not be done."""
    ms_rdonly, ms_nosuid, ms_nodev, ms_noexec, ms_remount, ms_bind = 1, 2, 4, 8, 32, 4096
    target = writable.encode()
    if libc.mount(target, target, None, ms_bind, None) != 0:
        return False
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split() for line in f]
    sealed_root = False
    for fields in mounts:
        point = fields[4].encode().decode("unicode_escape").encode("latin-1")
        if point == target:
            continue
        options = fields[5].split(",")
        flags = ms_remount | ms_bind | ms_rdonly
        flags |= (ms_nosuid if "nosuid" in options else 0) | (ms_nodev if "nodev" in options else 0)
        flags |= ms_noexec if "noexec" in options else 0
        ok = libc.mount(None, point, None, flags, None) == 0
        sealed_root = sealed_root or (ok and point == b"/")
    return sealed_root


def _main(request_fd: int, response_fd: int, host_ns: str, libc) -> None:
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
    # Sealing changes mounts: only ever in a mount namespace that is not the grader's.
    own_ns = os.readlink("/proc/self/ns/mnt") != host_ns
    sealed = setup["seal"] and own_ns and seal_filesystem(os.getcwd(), libc)
    for name, value in setup["rlimits"].items():
        try:
            resource.setrlimit(getattr(resource, name), (value, value))
        except (ValueError, OSError):
            pass
    sys.dont_write_bytecode = True  # never write __pycache__ into a submission
    sys.path[:0] = setup["numpy_path"]
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
        functions = {name: callable(getattr(module, name, None)) for name in setup["functions"]}
        send({"kind": "loaded", "functions": functions, "sealed": sealed})
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
            return True, getattr(module, function)(*args), args
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

    while True:
        request, blobs = receive()
        results, out_blobs, limit = [], [], [request["max_bytes"]]
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

if __name__ == "__main__":
    import sys as _sys

    serve(int(_sys.argv[1]), _sys.argv[2])
