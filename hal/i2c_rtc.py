"""What the I2C RTC drivers share: one-byte register access and BCD.

hal/rv3032.py and hal/ds3231.py subclass I2CRegisters; both chips keep their time in BCD
registers (RV-3032-C7 application manual §4; DS3231 datasheet, "Timekeeping Registers").
Register reads and writes go through a preallocated one-byte buffer, so they allocate nothing.
"""

import errno


def bcd(v):
    """0..99 -> packed BCD."""
    return ((v // 10) << 4) | (v % 10)


def unbcd(b):
    """Packed BCD -> 0..99."""
    return (b >> 4) * 10 + (b & 0x0F)


class I2CRegisters:
    """A device of 8-bit registers at one I2C address (the bus is injected)."""

    def __init__(self, i2c, address):
        self._i2c = i2c
        self._addr = address
        self._buf = bytearray(7)
        self._one = bytearray(1)
        self._two = bytearray(2)

    def _read(self, reg):
        self._i2c.readfrom_mem_into(self._addr, reg, self._one)
        return self._one[0]

    def _write(self, reg, value):
        self._one[0] = value
        self._i2c.writeto_mem(self._addr, reg, self._one)

    def _read_block(self, reg, n, chip):
        """Read n registers from `reg` (identity checks at construction); a chip that does
        not answer is OSError(ENODEV) naming it."""
        regs = bytearray(n)
        answered = True
        try:
            self._i2c.readfrom_mem_into(self._addr, reg, regs)
        except OSError:
            answered = False  # raised below, outside the handler: no exception chaining
        if not answered:
            raise OSError(errno.ENODEV, "no %s answering at 0x%02x" % (chip, self._addr))
        return regs
