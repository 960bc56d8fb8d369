"""Model of the 4x3 key matrix and the A/B push buttons, wired to sim Pins.

Electrically: each key joins one row line to one column line. Columns have pull-ups, so a
column input reads low exactly while some held key joins it to a row the MCU drives low.
Buttons pull their own input low while held.

The model watches the row output Pins (`Pin.watch`) and drives the column and button input
Pins (`Pin.drive`), so hal/keypad.py runs against it unchanged:

    km = KeypadModel(row_pins, col_pins, (pin_a, pin_b))
    km.press("5"); ...; km.release("5")
    km.press("A")

Key names follow the driver's keymap ("123456789*0#", row-major) and `button_keys` ("AB").
Recomputing the columns allocates nothing, so the driver's scan() can be checked under
micropython.heap_lock through this model.
"""


class KeypadModel:
    """Held keys -> column and button input levels."""

    def __init__(
        self, row_pins, col_pins, button_pins=(), keymap="123456789*0#", button_keys="AB"
    ):
        self._rows = tuple(row_pins)
        self._cols = tuple(col_pins)
        self._buttons = tuple(button_pins)
        if len(keymap) != len(self._rows) * len(self._cols):
            raise ValueError("keymap needs one char per row x column")
        if len(button_keys) < len(self._buttons):
            raise ValueError("one button key name per button pin")
        self._keymap = keymap
        self._button_keys = button_keys
        self._held = bytearray(len(keymap))  # 1 while the matrix key is held
        self.presses = 0
        for r in self._rows:
            r.watch(self._on_row)
        for p in self._cols:
            p.drive(1)
        for p in self._buttons:
            p.drive(1)
        self._update()

    def _find(self, key):
        i = self._keymap.find(key) if len(key) == 1 else -1
        if i >= 0:
            return i, -1
        j = self._button_keys.find(key) if len(key) == 1 else -1
        if 0 <= j < len(self._buttons):
            return -1, j
        raise ValueError("no such key: %r" % (key,))

    def press(self, key):
        i, j = self._find(key)
        self.presses += 1
        if i >= 0:
            self._held[i] = 1
            self._update()
        else:
            self._buttons[j].drive(0)

    def release(self, key):
        i, j = self._find(key)
        if i >= 0:
            self._held[i] = 0
            self._update()
        else:
            self._buttons[j].drive(1)

    def release_all(self):
        for i in range(len(self._held)):
            self._held[i] = 0
        self._update()
        for p in self._buttons:
            p.drive(1)

    def held(self):
        """Names of the keys and buttons held now, in keymap order."""
        out = [self._keymap[i] for i in range(len(self._held)) if self._held[i]]
        for j in range(len(self._buttons)):
            if self._buttons[j].value() == 0:
                out.append(self._button_keys[j])
        return out

    def _on_row(self, level):
        self._update()

    def _update(self):
        rows = self._rows
        cols = self._cols
        held = self._held
        ncols = len(cols)
        for c in range(ncols):
            level = 1
            for r in range(len(rows)):
                if held[r * ncols + c] and rows[r].value() == 0:
                    level = 0
                    break
            cols[c].drive(level)
