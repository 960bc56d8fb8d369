"""PCF8574 8-bit quasi-bidirectional I/O expander, as Pin-likes.

NXP data sheet "PCF8574; PCF8574A Remote 8-bit I/O expander for I2C-bus with interrupt",
Rev. 5: §7.1 device address (0x20-0x27, the A part 0x38-0x3F), §8.1 quasi-bidirectional
I/Os, §8.2 writing the port (one data byte sets all eight latches), §8.3 reading it (one byte
of pin levels), §8.4 power-on reset (all latches 1). A Standard-mode part: the I2C bus it
shares must run at 100 kHz or less (board/real.py).

The real boards put the 4x4 keypad matrix (digits, *, #, A, B) behind one of these because the
ESP32 DevKitC and the Pico run out of free GPIOs (see board/README.md). Each port bit is
quasi-bidirectional: writing 1 leaves a weak pull-up (the bit reads as an input), writing 0
sinks current. `pin(n)` returns an object with `value()` / `__call__`, so hal/keypad.py scans
it exactly like GPIO pins.

    i2c = machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21), freq=100_000)
    port = PCF8574(i2c, 0x20)
    rows = [port.pin(i) for i in range(4)]

Each read or write is one I2C transfer through a preallocated one-byte buffer (no allocation).
Errors: no part answering at construction is OSError(ENODEV) naming the address; a transfer
that fails later keeps the bus's errno and names the part (e.g. "PCF8574 at 0x20: I2C write
failed"), so a broken keypad cable is told apart from the other devices on the bus.
Tested against hal/sim/pcf8574_model.py (tests_host/test_boards.py).
"""

import errno

from micropython import const

_ALL_INPUTS = const(0xFF)


class PCF8574:
    def __init__(self, i2c, address=0x20):
        if not 0x20 <= address <= 0x27 and not 0x38 <= address <= 0x3F:
            raise ValueError("PCF8574 address must be 0x20-0x27 (or 0x38-0x3F for the A part)")
        self._i2c = i2c
        self._address = address
        self._out = _ALL_INPUTS
        self._buf = bytearray(1)
        try:
            self._buf[0] = _ALL_INPUTS
            self._i2c.writeto(address, self._buf)
        except OSError as exc:
            raise OSError(
                errno.ENODEV,
                "no PCF8574 answering at I2C address 0x%02x (bus error %s)"
                % (address, exc.args[0] if exc.args else "?"),
            )

    def _failed(self, exc, what):
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else errno.EIO
        return OSError(code, "PCF8574 at 0x%02x: I2C %s failed" % (self._address, what))

    def _write(self):
        self._buf[0] = self._out
        try:
            self._i2c.writeto(self._address, self._buf)
        except OSError as exc:
            raise self._failed(exc, "write")

    def read_port(self):
        """The eight pin levels (bit n = Pn): a pin latched 1 reads low while pulled low."""
        try:
            self._i2c.readfrom_into(self._address, self._buf)
        except OSError as exc:
            raise self._failed(exc, "read")
        return self._buf[0]

    def set_bit(self, bit, level):
        if level:
            self._out |= 1 << bit
        else:
            self._out &= ~(1 << bit) & 0xFF
        self._write()

    def pin(self, bit):
        if not 0 <= bit <= 7:
            raise ValueError("PCF8574 has bits 0-7")
        return ExpanderPin(self, bit)


class ExpanderPin:
    """One bit of a PCF8574 with the machine.Pin value() interface."""

    def __init__(self, port, bit):
        self._port = port
        self._bit = bit

    def value(self, level=None):
        if level is None:
            return (self._port.read_port() >> self._bit) & 1
        self._port.set_bit(self._bit, level)
        return None

    def __call__(self, level=None):
        return self.value(level)
