"""Factory reset: forget everything the device learned in use, keep what it was made with.

Wiped: the enrolled controllers, the enrollment failure count, a setup code rotated in
use (the one on the label works again), the user's settings (every value a controller
Set, DR start times and setpoints among them), and the security event log (one record,
"factory-reset", remains, and the log's sequence goes on from where it was, so the gap
shows). Kept: the firmware and its update state (slots, the security counter, which
must never go back), the factory identity (device key and certificate, label setup code,
0x83) and the installation config (config.json: network and objects).
"""
import os

WIPED = ("controllers.json", "enroll.json", "setup.json", "settings.json")


def factory_reset(state_dir, eventlog, why):
    for name in WIPED:
        for path in (state_dir + "/" + name, state_dir + "/" + name + ".tmp"):
            try:
                os.remove(path)
            except OSError:
                pass
    eventlog.wipe("factory-reset", why)
