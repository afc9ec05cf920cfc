# An unbounded fork bomb at import: every process forks for ever. Only its own submission
# may pay for it (a timeout); the process cap holds it, the PID namespace ends it.
import os

while True:
    try:
        os.fork()
    except OSError:
        pass
