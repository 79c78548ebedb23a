"""Presses of the commissioning / factory-reset button, as events.

    presses = Presses(button, state_dir)
    kind = presses.poll(now_ms)      # every POLL_MS: None, SHORT or LONG

On a board the button is the one board.json names (hal/board.py): released before
LONG_MS it is a SHORT press (opens the commissioning window); held LONG_MS it is a LONG
press (factory reset), reported once, while still held. The simulator has no button:
physical presence is a file, state_dir/button, holding "short" or "long", which
`make commission` / `make factory-reset` (tools/press.py) write and poll() consumes.
Only someone who can write the node's state directory can press it, as only someone
who holds the board can press the real one.
"""
import os

from micropython import const

SHORT = "short"
LONG = "long"
LONG_MS = 10000
POLL_MS = 100  # a board's pin; the simulator's file is looked at every FILE_POLL_MS
FILE_POLL_MS = 500
_FILE = const("button")


class Presses:
    def __init__(self, button, state_dir):
        self.button = button  # hal.board.Button, or None (simulator)
        self.path = state_dir + "/" + _FILE
        self._down = None  # ms when the current press began
        self._long_sent = False
        self._next_look = 0
        if button is None:  # a press is for a running node: one left from before this start is not
            try:
                os.remove(self.path)
            except OSError:
                pass

    def poll(self, now_ms):
        if self.button is None:
            if now_ms < self._next_look:
                return None
            self._next_look = now_ms + FILE_POLL_MS
            return self._poll_file()
        if self.button.pressed():
            if self._down is None:
                self._down, self._long_sent = now_ms, False
            elif not self._long_sent and now_ms - self._down >= LONG_MS:
                self._long_sent = True
                return LONG
            return None
        down, self._down = self._down, None
        if down is not None and not self._long_sent:
            return SHORT
        return None

    def _poll_file(self):
        try:
            with open(self.path) as f:
                kind = f.read().strip()
        except OSError:
            return None
        try:
            os.remove(self.path)
        except OSError:
            pass
        return kind if kind in (SHORT, LONG) else None
