"""Runs kosoku's command line (same arguments), then leaves at once.

kosoku 0.1.0 sometimes aborts (SIGABRT, exit status 134) while the Python
interpreter finalizes, after its report is written: measured here, about 1
run in 15 of a single case. Leaving with os._exit once the command is done
skips that finalization; the exit status stays kosoku's (0 all passed, 1 a
case did not pass, 2 bad arguments).
"""

import os
import sys

from kosoku._cli import main  # the `kosoku` console script's entry point

sys.argv[0] = "kosoku"
code = 0
try:
    main()
except SystemExit as e:
    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
except BaseException:  # noqa: BLE001 - report it, then the same quick exit
    import traceback

    traceback.print_exc()
    code = 3
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
