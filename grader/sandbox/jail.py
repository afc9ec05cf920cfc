"""Containment, done inside the fork server and each child: namespaces, the minimal root, the
drop of privileges, and, where no namespace can be had, the sweep of what a child left behind.
Standard library only: the fork server imports this file as a top-level module.

The levels, chosen by the grader (:mod:`grader.sandbox.containment`):

- ``root`` (the grader runs as root): the fork server takes mount and network namespaces of
  its own and builds the minimal root; each child is cloned into new PID, mount, IPC and UTS
  namespaces, changes root into the minimal root, and becomes a uid of its own (``UID_BASE``
  plus its pid), capped by RLIMIT_NPROC.
- ``user`` (an ordinary user, with user namespaces): the same, the fork server in a user
  namespace where the grader's uid maps to itself; each child ends in a nested user namespace
  of its own (RLIMIT_NPROC counts there only its own processes) with no capabilities.
- ``none``: plain processes. The fork server is a child subreaper and kills whatever a finished
  child left behind (:func:`sweep`).

The minimal root is a small tmpfs holding read-only bind mounts at their usual paths: the
standard library (its site-packages hidden under an empty tmpfs), numpy, the shared libraries,
``/dev/null``, ``zero``, ``urandom`` and ``random``; each child adds its own ``/proc``, its
submission at ``/submission`` (read-only) and a ``/tmp`` of ``TMP_SIZE`` bytes, its working
directory. Same paths as outside, so the modules the fork server loaded before keep working.
"""

import ctypes
import os
import signal
import sys

LEVELS = ("root", "user", "none")
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
CHILD_NAMESPACES = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
# statvfs flags a bind keeps when remounted (the same bits as the mount flags): noexec,
# noatime, nodiratime; the other atime settings stay as they are when none is given
KEPT_FLAGS = MS_NOEXEC | 1024 | 2048
PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 36, 38
SYSCALLS = {"x86_64": {"clone": 56}, "aarch64": {"clone": 220}}
# Refused to a child (EPERM) by a seccomp filter: the kernel's keyrings (shared by everything
# the user runs: a way to read its secrets and to leave messages for later), sockets of any
# family (the children of one fork server share a network namespace), leaving its core,
# memory outside its limits (memfd, System V shared memory, userfaultfd), and kernel
# interfaces no dropout layer needs.
REFUSED = {
    "x86_64": {"keyctl": 250, "add_key": 248, "request_key": 249, "socket": 41, "socketpair": 53,
               "sched_setaffinity": 203, "memfd_create": 319, "shmget": 29,
               "userfaultfd": 323, "bpf": 321, "perf_event_open": 298, "io_uring_setup": 425,
               "io_uring_enter": 426, "io_uring_register": 427},
    "aarch64": {"keyctl": 219, "add_key": 217, "request_key": 218, "socket": 198,
                "socketpair": 199,
                "sched_setaffinity": 122, "memfd_create": 279, "shmget": 194,
                "userfaultfd": 282, "bpf": 280, "perf_event_open": 241, "io_uring_setup": 425,
                "io_uring_enter": 426, "io_uring_register": 427}}
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
TMP_INODES = 4096
CAPABILITY_VERSION_3 = 0x20080522
UID_BASE = 1_000_000_000
NPROC = 64
TMP_SIZE = 64 << 20
SUBMISSION, WORKDIR = "/submission", "/tmp"
LIBRARY_DIRS = ("/lib", "/lib32", "/lib64", "/usr/lib", "/usr/lib32", "/usr/lib64")
FILES = ("/etc/ld.so.cache",)
DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")
HIDDEN = ("site-packages", "dist-packages")  # under a bound folder, or its python3*/


class Unavailable(OSError):
    """A step of the containment could not be taken here."""


def libc():
    """The C library, or None where ctypes cannot load it."""
    try:
        return ctypes.CDLL(None, use_errno=True)
    except (OSError, TypeError):  # TypeError: Windows, where there is no such handle
        return None


LIBC = libc()
# Looked up once in the fork server, not in every child.
FUNCTIONS = {name: getattr(LIBC, name, None) for name in
             ("mount", "unshare", "prctl", "capset")} if LIBC is not None else {}


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32))


_CAP_HEADER = _CapHeader(CAPABILITY_VERSION_3, 0)
_NO_CAPABILITIES = (_CapData * 2)()


def _call(name, *args):
    function = FUNCTIONS.get(name) if LIBC is not None else None
    if function is None:
        raise Unavailable(f"{name}() is not available on this system")
    if function(*args) != 0:
        errno = ctypes.get_errno()
        raise Unavailable(errno, f"{name}: {os.strerror(errno)}")


def _raw_syscall():
    try:
        function = ctypes.PyDLL(None, use_errno=True).syscall  # holding the GIL, as os.fork
    except (OSError, TypeError, AttributeError):
        return None
    function.restype = ctypes.c_long
    return function


SYSCALL, MACHINE = _raw_syscall(), os.uname().machine


def _syscall(name, *args):
    number = SYSCALLS.get(MACHINE, {}).get(name)
    if number is None or SYSCALL is None:
        raise Unavailable(f"{name} is not known on {MACHINE}")
    result = SYSCALL(number, *args)
    if result < 0:
        errno = ctypes.get_errno()
        raise Unavailable(errno, f"{name}: {os.strerror(errno)}")
    return result


def prctl(option, value):
    """prctl(2), where there is one; True if it took."""
    try:
        _call("prctl", option, value, 0, 0, 0)
    except Unavailable:
        return False
    return True


def _mount(source, target, fstype, flags, data=None):
    enc = [None if s is None else s.encode() for s in (source, target, fstype, data)]
    _call("mount", enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3])


def _read_only(target, source):
    """Remount the bind at TARGET read-only, keeping the flags of SOURCE's file system that a
    user namespace may not drop."""
    kept = os.statvfs(source).f_flag & KEPT_FLAGS
    _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | kept)


def _map_ids(uid, gid):
    """In a new user namespace: UID and GID map to themselves (the only mapping an ordinary
    user may write for itself)."""
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"),
                       ("gid_map", f"{gid} {gid} 1")):
        fd = os.open(f"/proc/self/{name}", os.O_WRONLY)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)


def nproc_per_namespace():
    """Linux counts RLIMIT_NPROC per user namespace since 5.14; before, across the user."""
    try:
        major, minor = (int(n) for n in os.uname().release.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (5, 14)


NPROC_PER_NAMESPACE = nproc_per_namespace()


# -- the fork server -------------------------------------------------------------------------

def enter_server(level):
    """Take the fork server's namespaces (before any thread starts: a user namespace needs a
    single thread). Raises Unavailable."""
    if level == "none":
        prctl(PR_SET_CHILD_SUBREAPER, 1)
        return
    uid, gid = os.getuid(), os.getgid()
    _call("unshare", CLONE_NEWNS | CLONE_NEWNET | (CLONE_NEWUSER if level == "user" else 0))
    if level == "user":
        _map_ids(uid, gid)
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing propagates back to the host


def _nearest(path, entries):
    """The entry of ENTRIES that is PATH's nearest ancestor, or None."""
    parent = os.path.dirname(path)
    while parent != path:
        if parent in entries:
            return entries[parent]
        path, parent = parent, os.path.dirname(parent)
    return None


def _hidden(folder):
    """The folders of installed packages under FOLDER (and its python3* folders)."""
    found = []
    try:
        names = os.listdir(folder)
    except OSError:
        return found
    for name in names:
        path = os.path.join(folder, name)
        if name in HIDDEN:
            found.append(path)
        elif name.startswith("python3") and os.path.isdir(path):
            found += [os.path.join(path, h) for h in HIDDEN]
    return [p for p in found if os.path.isdir(p)]


def plan(numpy_dir):
    """What the minimal root holds: {path: "bind" | "hide" | "link" | "device"}, where a
    path's parents come before it."""
    # the fork server's own path (python -I -S: the standard library and lib-dynload), but
    # the folder numpy is installed in, of which only numpy is wanted
    binds = {p for p in sys.path if p != numpy_dir and os.path.isdir(p)}
    for name in ("numpy", "numpy.libs"):
        if os.path.isdir(os.path.join(numpy_dir, name)):
            binds.add(os.path.realpath(os.path.join(numpy_dir, name)))
    entries = {}
    for path in LIBRARY_DIRS:
        if os.path.islink(path):
            entries[path] = "link"
        elif os.path.isdir(path):
            binds.add(path)
    with open("/proc/self/maps") as maps:  # where the libraries loaded so far live
        for line in maps:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[5].startswith("/") and ".so" in fields[5]:
                binds.add(os.path.dirname(fields[5].strip()))
    # the path's own folders where the child looks for them (a symbolic link on the way to
    # Python included), the shared libraries where they really are
    binds = {p for p in binds if os.path.isdir(p)}
    for path in binds:
        for hidden in _hidden(path):
            if os.path.realpath(hidden) not in binds:
                entries[hidden] = "hide"
    entries.update((p, "bind") for p in binds)
    entries.update((p, "bind") for p in FILES if os.path.isfile(p))
    entries.update((p, "device") for p in DEVICES if os.path.exists(p))
    ordered = {}
    for path in sorted(entries, key=lambda p: (p.count("/"), p)):
        kind = entries[path]
        if kind != "bind" or _nearest(path, ordered) != "bind":  # else: already in view
            ordered[path] = kind
    return ordered


def _place(jail, entries):
    """Mount ENTRIES of a plan into JAIL (parents first); hidden folders end read-only."""
    hidden = []
    for path, kind in entries:
        target = jail + path
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if kind == "link":
            os.symlink(os.readlink(path), target)
            continue
        if os.path.isdir(path):
            os.makedirs(target, exist_ok=True)
        elif not os.path.exists(target):
            open(target, "w").close()
        if kind == "hide":
            _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=755")
            hidden.append(target)
            continue
        _mount(path, target, None, MS_BIND)
        if kind == "bind":
            _read_only(target, path)
    for target in hidden:
        _mount(None, target, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _under(path, folder):
    return path == folder or path.startswith(folder + "/")


def build_root(jail, numpy_dir):
    """Build the minimal root on JAIL, in the fork server's own mount namespace. What lies
    under the children's own /tmp (a virtual environment made there, say) is left to each
    child to mount onto it (:data:`IN_WORKDIR`)."""
    global IN_WORKDIR
    _mount("tmpfs", jail, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
    for name in ("tmp", "proc", "dev", SUBMISSION.strip("/")):
        os.makedirs(os.path.join(jail, name), exist_ok=True)
    entries = list(plan(numpy_dir).items())
    IN_WORKDIR = [(path, kind) for path, kind in entries if _under(path, WORKDIR)]
    _place(jail, [(path, kind) for path, kind in entries if not _under(path, WORKDIR)])
    _mount(None, jail, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


IN_WORKDIR = []  # the minimal root's entries under WORKDIR, set by build_root


# -- each child ------------------------------------------------------------------------------

def clone(level):
    """Fork; in a contained LEVEL, into new PID, mount, IPC and UTS namespaces (PID 1 of its
    own), by clone(2) done as os.fork does it. Raises Unavailable rather than fork without."""
    if level == "none":
        return os.fork()
    api = ctypes.pythonapi
    api.PyOS_BeforeFork()
    try:
        pid = _syscall("clone", CHILD_NAMESPACES | signal.SIGCHLD, 0, 0, 0, 0)
    except Unavailable:
        api.PyOS_AfterFork_Parent()
        raise
    if pid == 0:
        api.PyOS_AfterFork_Child()
    else:
        api.PyOS_AfterFork_Parent()
    return pid


def confine(level, jail, workdir):
    """In a new child, before any student code: mount its own /proc, /tmp and submission in
    the minimal root, change root into it, then give up every privilege. Returns the process
    cap (None when there is none). Raises Unavailable: the child must then not run the
    submission.

    A change of root, not pivot_root(2): detaching the old root costs a child a millisecond,
    and without capabilities a chrooted process has no way out (chroot(2) needs
    CAP_SYS_CHROOT, and Linux refuses a new user namespace, which would give it, to a
    process whose root is not its mount namespace's)."""
    if level == "none":
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        return None
    uid, gid = os.getuid(), os.getgid()
    if level == "root":  # a uid of its own: RLIMIT_NPROC then counts its processes alone
        uid = gid = UID_BASE + int(os.readlink("/proc/self"))  # its pid outside
    _mount("tmpfs", jail + WORKDIR, "tmpfs", MS_NOSUID | MS_NODEV,
           f"size={TMP_SIZE},nr_inodes={TMP_INODES},mode=700,uid={uid},gid={gid}")
    _place(jail, IN_WORKDIR)
    source = os.path.join(workdir, "submission")
    _mount(source, jail + SUBMISSION, None, MS_BIND)
    _read_only(jail + SUBMISSION, source)
    _mount("proc", jail + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    if level == "user":  # its own (before the chroot, which forbids it): its processes are
        _call("unshare", CLONE_NEWUSER)  # counted alone, and it has no hold on the mounts
        _map_ids(uid, gid)
    os.chroot(jail)
    os.chdir(WORKDIR)
    if level == "root":
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)  # from root to another uid: every capability goes
    else:
        _drop_capabilities()
    # after the change of credentials, which clears it: it dies with the fork server
    if not (prctl(PR_SET_PDEATHSIG, signal.SIGKILL) and prctl(PR_SET_NO_NEW_PRIVS, 1)):
        raise Unavailable("prctl(PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS) failed")
    _refuse_syscalls()
    if level == "root" or NPROC_PER_NAMESPACE:
        import resource

        resource.setrlimit(resource.RLIMIT_NPROC, (NPROC, NPROC))
        return NPROC
    return None


class _SockFilter(ctypes.Structure):
    _fields_ = (("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32))


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter)))


def _seccomp_program():
    """The BPF program of :data:`REFUSED` for this machine, or None where it has none."""
    refused, arch = REFUSED.get(MACHINE), AUDIT_ARCH.get(MACHINE)
    if refused is None:
        return None
    load, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06  # BPF_LD|W|ABS, JMP|JEQ|K, JMP|JGE|K, RET|K
    allow, kill, refuse = 0x7FFF0000, 0x80000000, 0x00050000 | 1  # ERRNO(EPERM)
    numbers = sorted(refused.values())
    n = len(numbers)
    code = [(load, 0, 0, 4),  # seccomp_data.arch: another ABI is killed
            (jeq, 0, n + 4, arch),
            (load, 0, 0, 0),  # seccomp_data.nr
            (jge, n + 1, 0, 0x40000000)]  # x32 system calls: refused
    code += [(jeq, n - i, 0, number) for i, number in enumerate(numbers)]
    code += [(ret, 0, 0, allow), (ret, 0, 0, refuse), (ret, 0, 0, kill)]
    filters = (_SockFilter * len(code))(*[_SockFilter(*c) for c in code])
    return filters, _SockFprog(len(code), filters)


SECCOMP = _seccomp_program()


def _refuse_syscalls():
    """Install the seccomp filter (after no_new_privs). Raises Unavailable."""
    if SECCOMP is None:
        raise Unavailable(f"no seccomp filter is known for {MACHINE}")
    _call("prctl", PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(SECCOMP[1]), 0, 0)


def _drop_capabilities():
    _call("capset", ctypes.byref(_CAP_HEADER), ctypes.byref(_NO_CAPABILITIES))


# -- where there are no namespaces -----------------------------------------------------------

def _children(pid):
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    found = []
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(n) for n in f.read().split()]
        except OSError:
            continue
    return found


def sweep(keep):
    """Kill every descendant of this process (a subreaper: orphans, ``setsid`` daemons
    included, come back to it) that is not one of KEEP or under one: each is stopped as it is
    found, so that none can fork away, then killed; repeated until none is left."""
    for _ in range(64):
        found = [pid for pid in _children(os.getpid()) if pid not in keep]
        if not found:
            return
        stopped = []
        while found:
            pid = found.pop()
            try:
                os.kill(pid, signal.SIGSTOP)
            except OSError:
                continue
            stopped.append(pid)
            found += _children(pid)
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        mine = set(_children(os.getpid()))
        for pid in stopped:  # killed: they end at once
            if pid in mine:
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass
