# Entry point on the board and in the simulator. Kept to a few lines because the
# device compiles this file from source at every boot; the node lives in app.py.
import sys

import app

rc = app.main(sys.argv[1] if len(sys.argv) > 1 else "config.json")
if sys.platform == "linux":  # the simulator reports it; on a board sys.exit would reboot into main.py again
    sys.exit(rc)
