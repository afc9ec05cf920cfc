"""Where student code runs: its own child process, contained.

Grader side: :mod:`~grader.sandbox.containment` (which containment a run has),
:mod:`~grader.sandbox.server` (a worker's fork server), :mod:`~grader.sandbox.box` (one
submission's child). Child side, standard library only and loaded by the fork server as
top-level modules: ``child.py`` (the fork server's loop and the child's main),
``jail.py`` (namespaces, minimal root, privileges) and ``wire.py`` (the frame format, shared
by both sides).
"""
