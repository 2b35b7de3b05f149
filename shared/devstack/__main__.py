import contextlib
import sys

from shared.devstack.cli import main

# A Ctrl-C before the runner's own handlers are in place (while the servers start) ends quietly.
with contextlib.suppress(KeyboardInterrupt):
    sys.exit(main())
