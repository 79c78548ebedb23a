# Entry point on the board and in the simulator. Kept to a few lines because the
# device compiles this file from source at every boot; the node lives in app.py.
import sys

from update.boot import select

path = sys.argv[1] if len(sys.argv) > 1 else "config.json"
select(path)  # the application slot an update installed goes first on sys.path (update/boot.py)
del select
try:
    import app

    rc = app.main(path)
except Exception as e:  # a release that cannot run at all: never left at the REPL (a trial then reverts)
    sys.print_exception(e)
    rc = 1
if sys.platform == "linux":  # the simulator reports it (and starts the node again on app.RESTART)
    sys.exit(rc)
elif rc != 0:  # not stopped by hand (Ctrl-C gives the REPL): a restart, or an error to retry
    import time

    import machine

    if rc == 1 or rc != app.RESTART:  # a bad config, no network, no heap, a crash: again, not too often
        time.sleep(30)
    machine.reset()
