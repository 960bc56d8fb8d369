"""Byte-level model of the NXP PCF8574 remote 8-bit I/O expander on the fake I2C bus.

Behaviour from the NXP data sheet "PCF8574; PCF8574A Remote 8-bit I/O expander for I2C-bus
with interrupt", Rev. 5 (27 May 2013):

- §2 and the dynamic characteristics: a Standard-mode (100 kHz) I2C-bus part. `i2c_max_hz`
  is 100 kHz, so the fake bus answers a faster clock with OSError(EIO), as a board whose bus
  runs out of the part's specification may do.
- §7.1 (device address): 0100 A2 A1 A0 for the PCF8574 (0x20-0x27), 0111 A2 A1 A0 for the
  PCF8574A (0x38-0x3F). An address nobody answers is a NACK: the fake bus raises
  OSError(ENODEV). `nack = True` makes a present part stop acknowledging (a broken wire).
- §8.1 (quasi-bidirectional I/Os): one latch bit per pin. A 1 leaves only the weak (100 uA)
  current source to VDD, so the pin is an input that anything outside may pull low; a 0
  sinks current and holds the pin low. The level on a pin is therefore latch AND NOT
  (pulled low outside).
- §8.2 (writing to the port): every data byte of a write transaction goes to the latches at
  its acknowledge; the last byte written stays. A write with no data byte changes nothing.
- §8.3 (reading from a port): every byte read is the pin levels sampled at that moment (not
  the latches): a pin latched 1 and pulled low outside reads 0.
- §8.4 (power-on reset): all latches 1, every pin an input with the weak pull-up.
- §8.5 (interrupt output INT): open drain, active low. It goes low when an input differs
  from the state the port had when it was last read or written, and is released by the
  next read or write of this part, or when the inputs return to that state. Only a pin in
  the input mode counts: one latched 0 is an output, and one a write has just released
  (0 -> 1) rises because of that write, not because of an input. The reference is taken at
  the acknowledge, before the latches of a write change, so a write that drives a row low
  under a held key makes the column input change after the reset: INT goes low again until
  the next read.

External circuitry reaches the eight lines through `pins`: each has the sim Pin interface
that hal/sim/keypad_model.py uses (`value()`, `watch(callback)`, `drive(level)`, where
drive(0) is an outside pull-down and drive(1) releases it). `keypad(keymap)` wires the
existing matrix model to the lines the boards use (rows P0-P3, columns P4-P7, board/README.md).
That model propagates a driven-low row to the columns (how a scan drives the matrix), so
ghost paths through three held keys are not modelled.
"""

try:
    import errno

    _ENODEV = errno.ENODEV
except (ImportError, AttributeError):  # pragma: no cover
    _ENODEV = 19

BASE_PCF8574 = 0x20
BASE_PCF8574A = 0x38


class ExpanderLine:
    """One port pin P0-P7 as seen from outside the chip (a sim Pin look-alike)."""

    def __init__(self, port, bit):
        self.id = "P%d" % bit
        self._port = port
        self._bit = bit
        self._level = 1
        self._pulled_low = False
        self._watchers = []

    def value(self, v=None):
        if v is not None:
            raise ValueError("drive an expander line with drive(); the chip sets its latch")
        return self._level

    __call__ = value

    def watch(self, callback):
        """callback(level) whenever the level of this line changes, whatever changed it."""
        self._watchers.append(callback)

    def drive(self, level):
        """Outside circuit: 0 pulls the line low (a closed key to a low line), 1 lets go."""
        low = not level
        if low != self._pulled_low:
            self._pulled_low = low
            self._port._settle()


class PCF8574Model:
    """The expander on the fake I2C bus: `i2c.attach(model.address, model)`."""

    i2c_max_hz = 100_000

    def __init__(self, a2=0, a1=0, a0=0, variant="PCF8574", int_pin=None):
        if variant == "PCF8574":
            base = BASE_PCF8574
        elif variant == "PCF8574A":
            base = BASE_PCF8574A
        else:
            raise ValueError("variant is 'PCF8574' or 'PCF8574A'")
        for a in (a2, a1, a0):
            if a not in (0, 1):
                raise ValueError("address pins A2..A0 are 0 or 1")
        self.address = base | (a2 << 2) | (a1 << 1) | a0
        self.latch = 0xFF  # §8.4: power-on reset, every pin a weak-pull-up input
        self.pins = tuple(ExpanderLine(self, bit) for bit in range(8))
        self._reference = 0xFF  # port state at the last read or write (§8.5)
        self._ref_inputs = 0xFF  # the pins that were inputs (latch 1) then
        self._int_pin = int_pin
        self.int_low = False
        self.nack = False
        self.reads = 0
        self.writes = 0
        if int_pin is not None:
            int_pin.drive(1)  # open drain, released: the board's pull-up holds it high

    # ---- the port ------------------------------------------------------------------------
    def levels(self):
        """The eight pin levels as a byte (bit n = Pn)."""
        out = 0
        for bit in range(8):
            out |= self.pins[bit]._level << bit
        return out

    def _settle(self):
        for bit in range(8):
            line = self.pins[bit]
            level = 1 if (self.latch >> bit) & 1 and not line._pulled_low else 0
            if level != line._level:
                line._level = level
                for w in line._watchers:
                    w(level)
        self._update_int()

    def _update_int(self):
        # Only pins in the input mode (latch 1, then and now) raise the interrupt: a pin latched
        # 0 is an output, and one a write just released rises because of that write.
        inputs = self.latch & self._ref_inputs
        low = ((self.levels() ^ self._reference) & inputs) != 0
        if low != self.int_low:
            self.int_low = low
            if self._int_pin is not None:
                self._int_pin.drive(0 if low else 1)

    def _ack(self):
        if self.nack:
            raise OSError(_ENODEV, "PCF8574 at 0x%02x: no acknowledge" % self.address)

    # ---- I2C device protocol ---------------------------------------------------------------
    def i2c_write(self, data):
        self._ack()
        for b in data:
            self.writes += 1
            self._reference = self.levels()  # INT reset at the acknowledge (§8.5)
            self._ref_inputs = self.latch
            self.latch = b & 0xFF
            self._settle()

    def i2c_read(self, n):
        self._ack()
        out = bytearray(n)
        for i in range(n):
            self.reads += 1
            value = self.levels()
            out[i] = value
            self._reference = value
            self._ref_inputs = self.latch
            self._update_int()
        return out

    # ---- wiring ------------------------------------------------------------------------------
    def keypad(self, keymap, rows=(0, 1, 2, 3), cols=(4, 5, 6, 7)):
        """hal/sim/keypad_model.KeypadModel on these lines (no separate buttons)."""
        from hal.sim.keypad_model import KeypadModel

        return KeypadModel(
            [self.pins[r] for r in rows],
            [self.pins[c] for c in cols],
            (),
            keymap=keymap,
            button_keys="",
        )
