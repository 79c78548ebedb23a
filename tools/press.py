"""Press the simulated node's button: physical presence for the simulator.

    press.py --state state short     open the commissioning window (make commission)
    press.py --state state long      factory reset (make factory-reset)

The node (firmware/hal/button.py) polls STATE/button and acts within a fraction of a
second; a board has a real button instead (board.json). Only someone who can write the
node's state directory can press it, as only someone holding the board can press its.
Exit codes: 0 pressed, the node took it; 1 no node running there took it (the press
is withdrawn: a node started later does not act on it); 2 a bad argument or no node
state there.
"""

import argparse
import os
import sys
import time

TAKE_S = 3  # the node looks every half second (firmware/hal/button.py FILE_POLL_MS)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="press.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--state", default="state", help="the node's state directory (make sim STATE=, default state)")
    ap.add_argument("kind", choices=("short", "long"))
    args = ap.parse_args(argv)
    if not os.path.exists(os.path.join(args.state, "config.json")):
        print("press: %s holds no simulated node (start one with make sim STATE=%s)" % (args.state, args.state),
              file=sys.stderr)
        return 2
    path = os.path.join(args.state, "button")
    with open(path + ".tmp", "w") as f:
        f.write(args.kind)
    os.replace(path + ".tmp", path)  # the node never reads half a press
    deadline = time.monotonic() + TAKE_S
    while os.path.exists(path):
        if time.monotonic() > deadline:
            try:
                os.remove(path)
            except OSError:  # taken at the last moment
                break
            print("press: no node running in %s took the %s press (start it with make sim STATE=%s)"
                  % (args.state, args.kind, args.state), file=sys.stderr)
            return 1
        time.sleep(0.05)
    print("press: the node in %s took the %s press" % (args.state, args.kind))
    return 0


if __name__ == "__main__":
    sys.exit(main())
