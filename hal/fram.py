"""Driver for Fujitsu MB85RS SPI FRAM (MB85RS64V ... MB85RS4MT) and RDID-less FM25-style parts.

Datasheet facts used (chips.md §3; MB85RS64V/256TY/1MT/2MT/4MT datasheets, "Command" and
"Status register" sections):
- Opcodes WREN 0x06, WRDI 0x04, RDSR 0x05, WRSR 0x01, READ 0x03, WRITE 0x02, RDID 0x9F.
- RDID answers 0x04 (Fujitsu), 0x7F (continuation code), then a 2-byte product ID whose first
  byte carries the density code in bits 4:0: size = 1 << (code + 10) bytes (3 = 64 Kbit,
  5 = 256 Kbit, 7 = 1 Mbit, 8 = 2 Mbit, 9 = 4 Mbit).
- Addresses are 2 bytes up to 64 KiB and 3 bytes above.
- WREN must be a frame of its own (it latches when CS rises) before every WRITE/WRSR; the part
  clears WEL at the end of the WRITE, which blocks stray writes after a glitch.
- No write delay and no busy polling: each byte is committed as it is clocked in.
- Status register: WPEN bit 7, BP1:BP0 bits 3:2 (block protect), WEL bit 1; bits 6:4 and 0
  read 0. The driver clears WPEN/BP at init so the whole array is writable.

The data path allocates nothing: the command header lives in a buffer made in __init__ and
the data is streamed from/to the caller's buffer or memoryview (proved under
micropython.heap_lock() by tests_host/scenarios/sc_fram.py). Reads also wear FRAM rows, so
callers cache in RAM and never busy-poll it (chips.md §3, endurance arithmetic).

    spi = machine.SPI(2, baudrate=20_000_000, polarity=0, phase=0, sck=..., mosi=..., miso=...)
    cs = machine.Pin(15, machine.Pin.OUT, value=1)
    fram = MB85RS(spi, cs)              # RDID decides size and address width
    fram.write(0, buf); fram.readinto(0, buf)
    fram = MB85RS(spi, cs, size=8192)   # a part without RDID (e.g. FM25CL64B)
"""

import errno

from micropython import const

_WREN = const(0x06)
_WRDI = const(0x04)
_RDSR = const(0x05)
_WRSR = const(0x01)
_READ = const(0x03)
_WRITE = const(0x02)
_RDID = const(0x9F)

_MANUFACTURER_FUJITSU = const(0x04)
_CONTINUATION = const(0x7F)
_SR_WEL = const(0x02)
_SR_PROTECT = const(0x8C)  # WPEN | BP1 | BP0
_SR_ZERO = const(0x71)  # bits that always read 0 on a present part
_MAX_SIZE = const(0x1000000)  # 3 address bytes


class MB85RS:
    """An SPI FRAM behind an injected bus and chip-select pin."""

    def __init__(self, spi, cs, size=None):
        if size is not None and not (0 < size <= _MAX_SIZE):
            raise ValueError("size must be 1..16 MiB")
        self._spi = spi
        self._cs = cs
        cs(1)
        self._hdr = bytearray(4)  # opcode + up to 3 address bytes
        self._one = bytearray(1)
        self._id = bytearray(4)
        self.product_id = None
        detected = self._read_id()
        if detected is not None:
            if size is not None and size != detected:
                raise ValueError("size %d does not match the RDID density (%d)" % (size, detected))
            size = detected
        elif size is None:
            raise OSError(
                errno.ENODEV,
                "no MB85RS FRAM: RDID read %02x %02x %02x %02x (expected 04 7f ..)"
                % tuple(self._id),
            )
        else:
            self._probe_without_id()
        self.size = size
        self.addr_bytes = 3 if size > 0x10000 else 2
        # Fixed-length view of the header: writing it never slices at access time.
        self._cmd = memoryview(self._hdr)[: 1 + self.addr_bytes]
        self._unprotect()

    # ---- identity ------------------------------------------------------------------------
    def _read_id(self):
        """Density in bytes from RDID, or None when the part does not answer as a Fujitsu."""
        self._one[0] = _RDID
        self._cs(0)
        try:
            self._spi.write(self._one)
            self._spi.readinto(self._id)
        finally:
            self._cs(1)
        ident = self._id
        if ident[0] != _MANUFACTURER_FUJITSU or ident[1] != _CONTINUATION:
            return None
        code = ident[2] & 0x1F
        if not 1 <= code <= 14:
            return None
        self.product_id = (ident[2] << 8) | ident[3]
        return 1 << (code + 10)

    def _probe_without_id(self):
        # No RDID: a present part has a status register whose fixed bits read 0 and whose
        # WEL follows WREN/WRDI. A floating bus (0xFF) or a dead part fails this.
        status = self.read_status()
        if status & _SR_ZERO:
            raise OSError(errno.ENODEV, "no FRAM: status register reads 0x%02x" % status)
        self._command(_WREN)
        wel_on = self.read_status() & _SR_WEL
        self._command(_WRDI)
        wel_off = self.read_status() & _SR_WEL
        if not wel_on or wel_off:
            raise OSError(errno.ENODEV, "no FRAM: WEL does not follow WREN/WRDI")

    def _unprotect(self):
        if self.read_status() & _SR_PROTECT:
            self._command(_WREN)
            self._hdr[0] = _WRSR
            self._hdr[1] = 0x00
            self._cs(0)
            try:
                self._spi.write(memoryview(self._hdr)[:2])
            finally:
                self._cs(1)
            if self.read_status() & _SR_PROTECT:
                raise OSError(errno.EIO, "FRAM block protect cannot be cleared")

    # ---- small commands ------------------------------------------------------------------
    def _command(self, opcode):
        self._one[0] = opcode
        self._cs(0)
        try:
            self._spi.write(self._one)
        finally:
            self._cs(1)

    def read_status(self):
        """The status register (WPEN bit 7, BP1:BP0 bits 3:2, WEL bit 1)."""
        self._one[0] = _RDSR
        self._cs(0)
        try:
            self._spi.write(self._one)
            self._spi.readinto(self._one)
        finally:
            self._cs(1)
        return self._one[0]

    # ---- data path (allocation-free) ---------------------------------------------------
    def _header(self, opcode, addr, n):
        if addr < 0 or n > self.size - addr:
            raise ValueError("FRAM access out of range")
        hdr = self._hdr
        hdr[0] = opcode
        if self.addr_bytes == 3:
            hdr[1] = (addr >> 16) & 0xFF
            hdr[2] = (addr >> 8) & 0xFF
            hdr[3] = addr & 0xFF
        else:
            hdr[1] = (addr >> 8) & 0xFF
            hdr[2] = addr & 0xFF

    def readinto(self, addr, buf):
        """Fill `buf` (bytearray or memoryview) from FRAM starting at `addr`."""
        n = len(buf)
        self._header(_READ, addr, n)
        if n == 0:
            return
        self._cs(0)
        try:
            self._spi.write(self._cmd)
            self._spi.readinto(buf)
        finally:
            self._cs(1)

    def write(self, addr, buf):
        """Write `buf` at `addr`: a WREN frame, then WRITE + address + data in one frame."""
        n = len(buf)
        self._header(_WRITE, addr, n)
        if n == 0:
            return
        self._command(_WREN)  # uses its own 1-byte buffer: the header stays intact
        self._cs(0)
        try:
            self._spi.write(self._cmd)
            self._spi.write(buf)
        finally:
            self._cs(1)
