"""PCF8574 8-bit quasi-bidirectional I/O expander (NXP PCF8574 datasheet §7-8), as Pin-likes.

The real boards put the 4x4 keypad matrix (digits, *, #, A, B) behind one of these because the
ESP32 DevKitC and the Pico run out of free GPIOs (see board/README.md). Each port bit is
quasi-bidirectional: writing 1 leaves a weak pull-up (the bit reads as an input), writing 0
sinks current. `pin(n)` returns an object with `value()` / `__call__`, so hal/keypad.py scans
it exactly like GPIO pins.

    i2c = machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21), freq=400_000)
    port = PCF8574(i2c, 0x20)
    rows = [port.pin(i) for i in range(4)]

Each read or write is one I2C transfer through a preallocated one-byte buffer (no allocation).
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
            self._write()
        except OSError:
            raise OSError(errno.ENODEV)

    def _write(self):
        self._buf[0] = self._out
        self._i2c.writeto(self._address, self._buf)

    def read_port(self):
        self._i2c.readfrom_into(self._address, self._buf)
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
