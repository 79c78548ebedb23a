# Entry point on the board and in the simulator. Kept to a few lines because the
# device compiles this file from source at every boot; the node lives in app.py.
import sys

import app

sys.exit(app.main(sys.argv[1] if len(sys.argv) > 1 else "config.json"))
