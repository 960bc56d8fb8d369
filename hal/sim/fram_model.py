"""Byte-level model of a Fujitsu MB85RS SPI FRAM, with a power-cut hook (chips.md §3).

Implements the SPI device protocol of hal/sim/machine.py. Commands (MB85RS datasheets,
"Command" tables): WREN 0x06, WRDI 0x04, RDSR 0x05, WRSR 0x01, READ 0x03, WRITE 0x02,
RDID 0x9F. What the model enforces, as the parts do:

- WREN/WRDI take effect when CS rises; bytes clocked after the opcode are ignored. So WREN
  must be its own CS frame, followed by the WRITE frame.
- WEL is cleared at the end of every WRITE/WRSR frame and at power-up. A WRITE or WRSR
  without WEL changes nothing.
- Address: 2 bytes up to 64 KiB, 3 bytes above; unused high bits are ignored. Each data byte
  is committed as its 8th bit is clocked in (no write delay); the address auto-increments
  and rolls over from the last address to 0 (READ and WRITE).
- Status register: WPEN bit 7, BP1:BP0 bits 3:2, WEL bit 1 (read-only), bits 6:4 and 0 read
  0. BP protects the upper 1/4 (01), 1/2 (10) or all (11) of the array; the WP pin is
  modelled as tied high, so WPEN has no effect. WRSR writes only bits 7, 3, 2.
- RDID returns 04 (Fujitsu) 7F (continuation) then the 2-byte product ID; the low 5 bits of
  the first product byte are the density code (size = 1 << (code + 10) bytes).
- SPI modes 0 and 3, SCLK up to 20 MHz (the slowest part of the family; several run faster).
- While MISO is not driven (opcode/address bytes, unknown opcodes, a powered-off part) the
  bus reads 0xFF: a pull-up on MISO is assumed.

Blank contents: Fujitsu does not specify the shipped contents; Cypress/Infineon ship FRAM
as all 0x00 (KBA88164). The model starts blank parts at 0x00 (`fill` changes that).
Firmware must not rely on either: the store formats on CRC failure.

Power cut (reliability.md T1): `arm_cut(after_bytes, garbage, garbage_at, seed)` lets
`after_bytes` more WRITE data bytes commit, then the supply is gone: the next byte and all
later ones are lost; optionally `garbage` bytes of deterministic junk land first (at the
next addresses of the interrupted write, or at `garbage_at`), modelling a browning-out MCU
that keeps clocking. Then the part is off (reads 0xFF, ignores everything) until
`power_on()`.

Bulk paths (hal/sim/machine.py): `spi_write_bytes` and `spi_read_into` move a run of WRITE
or READ data as one slice copy instead of one spi_byte() call per byte, with exactly the
per-byte effect (counters, address roll-over, block protect, the armed power cut: a cut after
byte N still commits exactly N bytes). Anything unusual (a wrap at the top address, block
protect set, a cut inside the run, opcode/address bytes) takes the per-byte path.

Usage on the virtual board:
    model = MB85RSModel("MB85RS2MT", path="fram.img")
    spi.attach(cs_pin, model)
    ...
    model.save()
"""

# part: (size in bytes, product id bytes or None for a part without RDID)
PARTS = {
    "MB85RS64V": (8 * 1024, (0x03, 0x02)),
    "MB85RS64T": (8 * 1024, (0x23, 0x03)),
    "MB85RS256TY": (32 * 1024, (0x25, 0x03)),
    "MB85RS1MT": (128 * 1024, (0x27, 0x03)),
    "MB85RS2MT": (256 * 1024, (0x28, 0x03)),
    "MB85RS2MTA": (256 * 1024, (0x48, 0x03)),
    "MB85RS4MT": (512 * 1024, (0x49, 0x03)),
    # Ramtron/Cypress FM25CL64B: same opcodes, 2-byte address, no RDID command.
    "FM25CL64B": (8 * 1024, None),
}

_WREN = 0x06
_WRDI = 0x04
_RDSR = 0x05
_WRSR = 0x01
_READ = 0x03
_WRITE = 0x02
_RDID = 0x9F

# Frame states.
_S_IDLE = 0  # CS high, or a frame whose remaining bytes are ignored
_S_OPCODE = 1
_S_ADDR = 2
_S_READ = 3
_S_WRITE = 4
_S_RDSR = 5
_S_WRSR = 6
_S_RDID = 7

_SR_WEL = 0x02
_SR_WRITABLE = 0x8C  # WPEN, BP1, BP0
_FLOAT = 0xFF  # MISO not driven, pulled up
# Cached read windows (see spi_read_into): a register record's copies are read back every
# tick, so a handful of (address, length) pairs cover the whole steady state.
_VIEW_CACHE = 32


class MB85RSModel:
    """An MB85RS part on the fake SPI bus. `image` is the array (a bytearray) for tests."""

    spi_modes = ((0, 0), (1, 1))
    spi_max_hz = 20_000_000

    def __init__(self, part="MB85RS2MT", path=None, fill=0x00):
        if part not in PARTS:
            raise ValueError("unknown FRAM part %r" % (part,))
        self.part = part
        self.size, self.product_id = PARTS[part]
        self.addr_bytes = 3 if self.size > 0x10000 else 2
        self._mask = self.size - 1
        self.path = path
        self.image = bytearray(bytes((fill & 0xFF,)) * self.size)
        if path is not None:
            self._load(path)
        self.status = 0  # WPEN/BP bits are nonvolatile; WEL is clear at power-up
        self.powered = True
        self.bytes_written = 0
        self.write_frames = 0
        self.bytes_read = 0
        self.frames = 0
        self.cut_happened = False
        self.cut_address = None
        self._cut_left = None
        self._garbage = 0
        self._garbage_at = None
        self._rng = 1
        self._state = _S_IDLE
        self._op = 0
        self._addr = 0
        self._addr_left = 0
        self._wrsr_value = None
        self._out = 0
        self._write_started = False
        self._views = {}  # (addr << 24) | n -> memoryview of image[addr:addr + n]
        self._views_of = self.image  # the array those views are of

    # ---- image persistence -------------------------------------------------------------
    def _load(self, path):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return  # a new part: blank
        n = min(len(data), self.size)
        self.image[0:n] = data[0:n]

    def save(self, path=None):
        """Write the array to `path` (default: the path given at construction)."""
        path = path or self.path
        if path is None:
            raise ValueError("no image path")
        with open(path, "wb") as f:
            f.write(self.image)

    # ---- power -------------------------------------------------------------------------
    def power_off(self):
        self.powered = False
        self._state = _S_IDLE

    def power_on(self):
        """Supply back: WEL clear, no frame in progress. The array and BP bits persist."""
        self.powered = True
        self.status &= ~_SR_WEL
        self._state = _S_IDLE

    def arm_cut(self, after_bytes, garbage=0, garbage_at=None, seed=1):
        """After `after_bytes` more committed WRITE data bytes, the power fails (see module)."""
        if after_bytes < 0 or garbage < 0:
            raise ValueError("after_bytes and garbage must be >= 0")
        self._cut_left = after_bytes
        self._garbage = garbage
        self._garbage_at = garbage_at
        self._rng = (seed & 0xFFFFFFFF) or 1

    def disarm_cut(self):
        self._cut_left = None

    def cut_pending(self):
        return self._cut_left is not None

    def _junk(self):
        # xorshift32: the same junk sequence under CPython and MicroPython.
        x = self._rng
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self._rng = x
        return x & 0xFF

    def _cut(self):
        self.cut_happened = True
        self.cut_address = self._addr
        self._cut_left = None
        at = self._addr if self._garbage_at is None else self._garbage_at
        for _ in range(self._garbage):
            self.image[at & self._mask] = self._junk()
            at += 1
        self.power_off()

    # ---- SPI device protocol -----------------------------------------------------------
    def spi_begin(self):
        if not self.powered:
            return
        self.frames += 1
        self._state = _S_OPCODE
        self._op = 0
        self._addr_left = 0
        self._wrsr_value = None
        self._write_started = False

    def spi_end(self):
        if not self.powered:
            return
        op = self._op
        if op == _WREN:
            self.status |= _SR_WEL
        elif op == _WRDI:
            self.status &= ~_SR_WEL
        elif op == _WRSR:
            if self._wrsr_value is not None and self.status & _SR_WEL:
                self.status = (self.status & ~_SR_WRITABLE) | (self._wrsr_value & _SR_WRITABLE)
            self.status &= ~_SR_WEL
        elif op == _WRITE:
            self.status &= ~_SR_WEL
        self._op = 0
        self._state = _S_IDLE

    def spi_byte(self, b):
        if not self.powered:
            return _FLOAT
        state = self._state
        if state == _S_READ:
            out = self.image[self._addr]
            self._addr = (self._addr + 1) & self._mask
            self.bytes_read += 1
            return out
        if state == _S_WRITE:
            self._write_byte(b)
            return _FLOAT
        if state == _S_ADDR:
            self._addr = ((self._addr << 8) | b) & 0xFFFFFF
            self._addr_left -= 1
            if self._addr_left == 0:
                self._addr &= self._mask
                if self._op == _READ:
                    self._state = _S_READ
                elif self.status & _SR_WEL:
                    self._state = _S_WRITE
                    self.write_frames += 1
                else:
                    self._state = _S_IDLE  # WRITE without WEL: ignored
            return _FLOAT
        if state == _S_OPCODE:
            return self._opcode(b)
        if state == _S_RDSR:
            return self.status
        if state == _S_WRSR:
            if self._wrsr_value is None:
                self._wrsr_value = b
            return _FLOAT
        if state == _S_RDID:
            return self._out_id()
        return _FLOAT

    def _opcode(self, b):
        self._op = b
        if b == _READ or b == _WRITE:  # noqa: PLR1714 (a tuple here allocates)
            self._state = _S_ADDR
            self._addr = 0
            self._addr_left = self.addr_bytes
        elif b == _RDSR:
            self._state = _S_RDSR
        elif b == _WRSR:
            self._state = _S_WRSR
        elif b == _RDID and self.product_id is not None:
            self._state = _S_RDID
            self._out = 0
        elif b == _WREN or b == _WRDI:  # noqa: PLR1714
            self._state = _S_IDLE  # takes effect at CS rise; later bytes ignored
        else:
            self._op = 0
            self._state = _S_IDLE  # unknown opcode (or RDID on a part without it)
        return _FLOAT

    def _out_id(self):
        i = self._out
        self._out = i + 1
        if i == 0:
            return 0x04
        if i == 1:
            return 0x7F
        if i == 2:
            return self.product_id[0]
        if i == 3:
            return self.product_id[1]
        return _FLOAT

    def _protected(self, addr):
        bp = (self.status >> 2) & 3
        if bp == 0:
            return False
        if bp == 3:
            return True
        start = self.size - (self.size >> (3 - bp))  # 01: upper 1/4, 10: upper 1/2
        return addr >= start

    def _write_byte(self, b):
        if self._cut_left is not None:
            if self._cut_left == 0:
                self._cut()
                return
            self._cut_left -= 1
        addr = self._addr
        if not self._protected(addr):
            self.image[addr] = b
            self.bytes_written += 1
        self._addr = (addr + 1) & self._mask

    # ---- bulk paths (same effect as spi_byte() per byte; no allocation) -------------------
    def spi_write_bytes(self, buf):
        n = len(buf)
        addr = self._addr
        if (
            self._state == _S_WRITE
            and self.powered
            and addr + n <= self.size
            and not self.status & 0x0C  # BP1:BP0 clear: nothing protected
            and (self._cut_left is None or n <= self._cut_left)
        ):
            self.image[addr : addr + n] = buf
            self.bytes_written += n
            self._addr = (addr + n) & self._mask
            if self._cut_left is not None:
                self._cut_left -= n
            return
        for b in buf:
            self.spi_byte(b)

    def spi_read_into(self, buf, fill):
        n = len(buf)
        addr = self._addr
        if self._state == _S_READ and self.powered and addr + n <= self.size:
            view = self._view(addr, n)
            if view is None:  # the heap is locked (MicroPython): copy without a view
                img = self.image
                for i in range(n):
                    buf[i] = img[addr + i]
            else:
                buf[0:n] = view
            self._addr = (addr + n) & self._mask
            self.bytes_read += n
            return
        for i in range(n):
            buf[i] = self.spi_byte(fill)

    def _view(self, addr, n):
        """A memoryview of image[addr:addr + n], cached: slicing a memoryview allocates on
        MicroPython, and the steady state reads the same few windows again and again."""
        if self._views_of is not self.image:  # a test swapped the array: drop stale views
            self._views = {}
            self._views_of = self.image
        key = (addr << 24) | n
        views = self._views
        view = views.get(key)
        if view is None:
            try:
                view = memoryview(self.image)[addr : addr + n]
            except MemoryError:  # under heap_lock(): the caller copies byte by byte
                return None
            if len(views) >= _VIEW_CACHE:
                views.clear()  # boot reads many windows once; the steady state needs few
            views[key] = view
        return view
