"""4x3 matrix keypad (1-9, *, 0, #) plus separate push buttons, scanned by polling.

Wiring (board/*.py configures the pins; this driver never creates them):
- rows: 4 push-pull outputs, idle high. A scan drives one row low at a time.
- cols: 3 inputs with pull-ups. A column reads low while a key joining it to the driven row
  is held.
- buttons: (char, pin) pairs, each pin an input with pull-up, low while pressed (A, B).

    kp = Keypad(rows=(Pin(13, Pin.OUT, value=1), ...), cols=(Pin(26, Pin.IN, Pin.PULL_UP), ...),
                buttons=(("A", Pin(0, Pin.IN, Pin.PULL_UP)), ("B", Pin(35, Pin.IN))))
    key = kp.scan()        # call every ~10-20 ms: a newly pressed key char, else None

Debounce: a key (or "no key") is accepted once two consecutive scans read the same thing, so
a contact must be stable for one scan period. `scan()` reports the press edge once; holding a
key does not repeat it, releasing it reports nothing. `pressed()` is the debounced held key.
With several keys down the first in scan order wins: buttons, then rows top to bottom, columns
left to right. Without diodes, three keys on a rectangle can ghost a fourth; one-key use is
what the UI expects.

scan() allocates nothing (checked under micropython.heap_lock in the host tests).
"""

from micropython import const

KEYMAP_4X3 = "123456789*0#"
_NONE = const(-1)


class Keypad:
    """Debounced matrix + button scanner returning key characters."""

    def __init__(self, rows, cols, buttons=(), keymap=KEYMAP_4X3):
        rows = tuple(rows)
        cols = tuple(cols)
        buttons = tuple(buttons)
        if not rows or not cols:
            raise ValueError("need at least one row and one column")
        if len(keymap) != len(rows) * len(cols):
            raise ValueError("keymap needs one char per row x column")
        for b in buttons:
            if len(b) != 2 or len(b[0]) != 1:
                raise ValueError("buttons are (char, pin) pairs")
        self._rows = rows
        self._cols = cols
        self._button_pins = tuple(b[1] for b in buttons)
        # Key index -> one-char str, built once: returning an element allocates nothing,
        # whereas indexing a str may create a new str object.
        self._chars = tuple(keymap[i] for i in range(len(keymap))) + tuple(b[0] for b in buttons)
        self._n_matrix = len(keymap)
        self._last = _NONE
        self._stable = _NONE
        for r in rows:
            r.value(1)

    def _read_raw(self):
        """Index of the first key held right now, or _NONE. Leaves every row idle high."""
        buttons = self._button_pins
        for i in range(len(buttons)):
            if buttons[i].value() == 0:
                return self._n_matrix + i
        rows = self._rows
        cols = self._cols
        ncols = len(cols)
        found = _NONE
        for r in range(len(rows)):
            row = rows[r]
            row.value(0)
            for c in range(ncols):
                if cols[c].value() == 0:
                    found = r * ncols + c
                    break
            row.value(1)
            if found != _NONE:
                return found
        return _NONE

    def scan(self):
        """One scan. Returns the char of a key that has just become pressed, else None."""
        raw = self._read_raw()
        prev = self._last
        self._last = raw
        if raw != prev or raw == self._stable:
            return None
        self._stable = raw
        if raw == _NONE:
            return None
        return self._chars[raw]

    def pressed(self):
        """The debounced key being held, or None."""
        if self._stable == _NONE:
            return None
        return self._chars[self._stable]

    def is_down(self, char):
        """Raw (undebounced) state of one key or button, e.g. for safe mode at boot."""
        for i in range(len(self._chars)):
            if self._chars[i] == char:
                break
        else:
            raise ValueError("no such key")
        if i >= self._n_matrix:
            return self._button_pins[i - self._n_matrix].value() == 0
        ncols = len(self._cols)
        row = self._rows[i // ncols]
        row.value(0)
        try:
            return self._cols[i % ncols].value() == 0
        finally:
            row.value(1)
