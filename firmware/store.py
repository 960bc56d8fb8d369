"""Power-cut-safe FRAM store: A/B record pairs, the superblock, mount/format/repair.

Implements the record design of reliability.md §2 over an injected FRAM driver with `size`,
`readinto(addr, buf)` and `write(addr, buf)` (hal/fram.py MB85RS). The layout is in
firmware/layout.py and docs/fram-layout.md.

Record pair. Each copy is `magic u16 | seq u32 | payload | CRC-32`, little-endian, the CRC-32
(zlib, lib/crc.py) covering magic..payload. `commit` writes the OLDER copy with seq + 1, reads
it back and compares (Itron practice), and only then treats it as current, so a cut at any
byte leaves the previous copy intact. A commit writes only the bytes that differ from what the
copy holds (its shadow), header, payload, CRC in that order, and reads the whole copy back in
one transfer; a copy that drifted from its shadow fails the compare and is rewritten whole.
`load` takes the newest valid copy; sequence numbers live in 30 bits and are compared
wrap-safe (littlefs metadata pairs), so they stay small ints on 32-bit ports forever. Both
copies bad = "data invalid": the store sets `nvm_error` (the caller raises alarm 0x81AE,
requirements.md Appendix A) and never substitutes zeros.

CRC-32 without allocation, in native code. lib.crc.crc32 keeps its running value in one int
above 2**30, which is a heap object on ESP32/RP2040, and a bytecode loop over the 334-byte
register record costs ~100 us a tick on the unix port. Here the same CRC (check value
0xCBF43926) runs table-driven in a @micropython.viper function: machine-word arithmetic, the
running value kept in the caller's array('H', [lo, hi]) so no int above 2**30 ever exists,
~2 us per record on the unix port (MicroPython docs, "Maximising MicroPython speed": the
viper emitter; mpy-cross emits it for xtensawin and armv6m). Under CPython the same function
runs as plain Python (the viper casts are identities there, see hal/sim/cpython).

Mount. A valid superblock mounts. A device with no valid superblock is formatted only if
nothing but the superblock and register areas holds data (blank = every byte 0x00 or every
byte 0xFF, checked over the whole part) and the register record, if valid, is still the
format's initial record: that covers a new part and a format interrupted by a power cut.
Anything else is foreign or corrupt: the store becomes read-only (`read_only`, writes raise
OSError(EPERM)), sets `nvm_error`, and still loads every valid record so it can be read out.
A different layout version is migrated if MIGRATIONS has a step for it, else refused with
ValueError; so is a superblock for another geometry.
"""

import errno
import sys
from array import array

import micropython
from micropython import const

if sys.implementation.name != "micropython":
    from viper_casts import ptr8, ptr16, ptr32, uint  # CPython host shim (identity casts)

from firmware import layout

MAGIC_SUPERBLOCK = const(0x5342)  # "SB"
MAGIC_REGISTERS = const(0x4752)  # "RG"
MAGIC_CONFIG = const(0x4643)  # "CF"
SB_ID = b"ESME"

SEQ_MASK = const(0x3FFFFFFF)  # 30-bit sequence numbers: small ints on 32-bit ports
_SEQ_HALF = const(0x20000000)

# Record states returned by RecordPair.load().
OK = const(0)  # newest valid copy loaded, the other copy valid too
REPAIRED = const(1)  # one copy was corrupt and was rewritten from the good one
BLANK = const(2)  # both copies blank: never written
INVALID = const(3)  # both copies bad: data invalid, buffer untouched
STATE_NAMES = ("ok", "repaired", "blank", "invalid")

NO_PERIOD = 0xFFFFFFFF  # "no HH period yet" in the register record
# A commit writes only the bytes that changed, in runs: bytes that differ less than _RUN_GAP
# apart share one write; a run is at most _RUN_MAX bytes (the staging buffer).
_RUN_GAP = const(4)
_RUN_MAX = const(16)
NO_TIME = 0xFFFFFFFF  # invalid clock

# Migration steps: {old_version: fn(store)}; fn converts the old layout in place. Version 1 is
# the first layout, so there is nothing to migrate from yet. Tests install a no-op step.
MIGRATIONS = {}


def _crc_table(poly, typecode, size):
    """The 256-entry table of a reflected CRC with polynomial `poly`, as array(typecode)."""
    t = array(typecode, bytes(256 * size))
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        t[n] = c
    return t


_T_CRC32 = _crc_table(0xEDB88320, "I", 4)  # CRC-32/ISO-HDLC
_T_X25 = _crc_table(0x8408, "H", 2)  # CRC-16/X.25


@micropython.viper
def crc16(buf, start: int, end: int) -> int:
    """CRC-16/X.25 of buf[start:end] (= lib.crc.crc16_x25), table-driven for ring records.

    Ring reads run over thousands of records (a profile read-out), so the 512-byte table pays
    for itself; values are identical to lib/crc.py's bitwise version.
    """
    b = ptr8(buf)
    t = ptr16(_T_X25)
    c = 0xFFFF
    for i in range(start, end):
        c = (c >> 8) ^ int(t[(c ^ b[i]) & 0xFF])
    return c ^ 0xFFFF


@micropython.viper
def crc32_run(state, buf, start: int, end: int):
    """Continue a CRC-32 over buf[start:end]; state = array('H', [lo, hi]) (pre-xorout).

    Start with [0xFFFF, 0xFFFF]; the final CRC is the state xor 0xFFFF in each half. uint is
    the machine word (32 or 64 bits): the value stays below 2**32 because every step is a
    table entry xor the value shifted right.
    """
    s = ptr16(state)
    b = ptr8(buf)
    t = ptr32(_T_CRC32)
    c = uint(s[0]) | (uint(s[1]) << 16)
    for i in range(start, end):
        c = uint(t[(c ^ uint(b[i])) & 0xFF]) ^ (c >> 8)
    s[0] = c & 0xFFFF
    s[1] = (c >> 16) & 0xFFFF


@micropython.viper
def _first_difference(new, shadow, at: int, start: int, end: int) -> int:
    """The first i in [start, end) with new[i] != shadow[at + i], else end."""
    a = ptr8(new)
    b = ptr8(shadow)
    i = start
    while i < end:
        if a[i] != b[at + i]:
            return i
        i += 1
    return end


@micropython.viper
def _run_end(new, shadow, at: int, start: int, end: int) -> int:
    """new[start] differs from the shadow: the end of the write run that begins there.

    The run takes every differing byte until _RUN_GAP equal bytes in a row, or _RUN_MAX
    bytes, or `end`; it ends just after its last differing byte."""
    a = ptr8(new)
    b = ptr8(shadow)
    last = start
    limit = start + _RUN_MAX
    if limit > end:  # noqa: PLR1730 - min() would box the native ints
        limit = end
    i = start + 1
    while i < limit:
        if a[i] != b[at + i]:
            last = i
        elif i - last >= _RUN_GAP:
            break
        i += 1
    return last + 1


@micropython.viper
def _copy(dst, d: int, src, s: int, n: int):
    """dst[d:d + n] = src[s:s + n] without a slice (a slice object allocates)."""
    pd = ptr8(dst)
    ps = ptr8(src)
    for i in range(n):
        pd[d + i] = ps[s + i]


def crc32(buf):
    """CRC-32 of a whole buffer as one int (for tests; allocates above 2**30 on 32-bit)."""
    st = array("H", [0xFFFF, 0xFFFF])
    crc32_run(st, buf, 0, len(buf))
    return ((st[1] ^ 0xFFFF) << 16) | (st[0] ^ 0xFFFF)


def seq_newer(a, b):
    """True if 30-bit sequence number a is newer than b (wrap-safe)."""
    d = (a - b) & SEQ_MASK
    return d != 0 and d < _SEQ_HALF


def put_u32(buf, off, v):
    """Little-endian u32; v = -1 packs as FF FF FF FF with small ints only."""
    buf[off] = v & 0xFF
    buf[off + 1] = (v >> 8) & 0xFF
    buf[off + 2] = (v >> 16) & 0xFF
    buf[off + 3] = (v >> 24) & 0xFF


def get_u32(buf, off):
    return buf[off] | (buf[off + 1] << 8) | (buf[off + 2] << 16) | (buf[off + 3] << 24)


def _blank(buf, n):
    """True if buf[0:n] is all 0x00 or all 0xFF."""
    b0 = buf[0]
    if b0 not in (0, 0xFF):
        return False
    for i in range(1, n):
        if buf[i] != b0:
            return False
    return True


class RecordPair:
    """Two copies of one record; `buf` holds the current payload (see module docstring)."""

    def __init__(self, store, name, addr_a, addr_b, payload_len, magic):
        self.store = store
        self.name = name
        self.addr_a = addr_a
        self.addr_b = addr_b
        self.n = payload_len
        self.magic = magic
        size = payload_len + layout.COPY_OVERHEAD
        self.buf = bytearray(payload_len)
        self._view = memoryview(self.buf)
        self._hdr = bytearray(6)
        self._crc = bytearray(4)
        # A whole copy as read back from the FRAM (one transfer), with views of its parts;
        # also the load area.
        self._back = bytearray(size)
        back = memoryview(self._back)
        self._rhdr = back[0:6]
        self._scratch = back[6 : 6 + payload_len]
        self._rcrc = back[6 + payload_len : size]
        self._st = array("H", [0xFFFF, 0xFFFF])
        # What each copy holds on the FRAM (magic, seq, payload, CRC), as last written and
        # verified or loaded: a commit then writes only the bytes that differ (issue 3: at most
        # 64 bytes per tick), as runs staged through the store's small buffer (Store.stage:
        # one for all records, a commit never runs inside another).
        self._shadow = (bytearray(size), bytearray(size))
        self._shadow_ok = bytearray(2)
        self.cur = -1  # copy holding the current payload: 0 = A, 1 = B, -1 none
        self.seq = 0
        self.state = BLANK
        self.commits = 0

    def _addr(self, i):
        return self.addr_a if i == 0 else self.addr_b

    def _crc_into(self, out, hdr, payload):
        st = self._st
        st[0] = 0xFFFF
        st[1] = 0xFFFF
        crc32_run(st, hdr, 0, 6)
        crc32_run(st, payload, 0, self.n)
        lo = st[0] ^ 0xFFFF
        hi = st[1] ^ 0xFFFF
        out[0] = lo & 0xFF
        out[1] = lo >> 8
        out[2] = hi & 0xFF
        out[3] = hi >> 8

    # ---- commit ----------------------------------------------------------------------------
    def commit(self, payload=None):
        """Make `payload` (default: self.buf) current: write the older copy, read it back."""
        if payload is not None and payload is not self.buf:
            if len(payload) != self.n:
                raise ValueError("%s payload must be %d bytes" % (self.name, self.n))
            _copy(self.buf, 0, payload, 0, self.n)
        tgt = 1 if self.cur == 0 else 0
        seq = (self.seq + 1) & SEQ_MASK
        hdr = self._hdr
        hdr[0] = self.magic & 0xFF
        hdr[1] = self.magic >> 8
        put_u32(hdr, 2, seq)
        crc = self._crc
        self._crc_into(crc, hdr, self.buf)
        store = self.store
        addr = self._addr(tgt)
        n = self.n
        for _attempt in range(2):
            # Header first (the new seq makes the copy invalid until its CRC lands), then the
            # payload, then the CRC: a cut anywhere leaves this copy invalid, the other whole.
            # The shadow is trusted again only once the copy has verified: a write that fails
            # half way (a bus error) must not leave a shadow that claims the old bytes.
            diff = self._shadow_ok[tgt]
            self._shadow_ok[tgt] = 0
            if diff:
                shadow = self._shadow[tgt]
                self._write_changes(addr, hdr, shadow, 0, 6)
                self._write_changes(addr + 6, self.buf, shadow, 6, n)
                self._write_changes(addr + 6 + n, crc, shadow, 6 + n, 4)
            else:
                store.write(addr, hdr)
                store.write(addr + 6, self.buf)
                store.write(addr + 6 + n, crc)
            store.readinto(addr, self._back)  # the whole copy in one transfer
            if self._rhdr == hdr and self._rcrc == crc and self._scratch == self._view:
                self._remember(tgt)
                self.cur = tgt
                self.seq = seq
                self.state = OK
                self.commits += 1
                return
            # The copy is not what we wrote: the second attempt rewrites it whole.
        store.fault(self.name + ": write did not verify")
        raise OSError(errno.EIO, "FRAM write of %s did not verify" % self.name)

    def _write_changes(self, addr, new, shadow, at, n):
        """Write the bytes of new[0:n] that differ from shadow[at:at + n] to addr..addr + n.

        Differing bytes less than _RUN_GAP apart go in one write (a write costs a WREN and a
        4-byte command on the bus, more than a few unchanged bytes), at most _RUN_MAX bytes
        each, staged in a preallocated buffer."""
        k = _first_difference(new, shadow, at, 0, n)
        while k < n:
            end = _run_end(new, shadow, at, k, n)
            m = end - k
            store = self.store
            _copy(store.stage, 0, new, k, m)
            store.write(addr + k, store.stage_views[m])
            k = _first_difference(new, shadow, at, end, n)

    def _remember(self, i):
        """The copy just read back into _back is what copy i holds: make it its shadow."""
        _copy(self._shadow[i], 0, self._back, 0, self.n + layout.COPY_OVERHEAD)
        self._shadow_ok[i] = 1

    # ---- load ------------------------------------------------------------------------------
    def _check(self, i):
        """Read copy i into the scratch area: its seq if valid, -1 if corrupt, -2 if blank."""
        self.store.readinto(self._addr(i), self._back)
        rh = self._rhdr
        self._shadow_ok[i] = 0
        if rh[0] | (rh[1] << 8) == self.magic:
            self._crc_into(self._crc, rh, self._scratch)
            if self._crc == self._rcrc:
                self._remember(i)
                return get_u32(rh, 2) & SEQ_MASK
        if _blank(rh, 6) and rh[0] == self._rcrc[0] and _blank(self._rcrc, 4):
            if _blank(self._scratch, self.n) and self._scratch[0] == rh[0]:
                return -2
        return -1

    def _take_scratch(self):
        _copy(self.buf, 0, self._scratch, 0, self.n)

    def load(self, repair=False, into=None):
        """Load the newest valid copy into self.buf (and `into`); returns a state constant.

        With `repair`, a corrupt (not blank) other copy is rewritten from the good one, one
        sequence number older, so the pair is whole again.
        """
        seq_a = self._check(0)
        if seq_a >= 0:
            self._take_scratch()
        seq_b = self._check(1)
        if seq_a < 0 and seq_b < 0:
            self.cur = -1
            self.state = BLANK if seq_a == -2 and seq_b == -2 else INVALID
            return self.state
        if seq_b >= 0 and (seq_a < 0 or seq_newer(seq_b, seq_a)):
            self._take_scratch()
            self.cur, self.seq, other = 1, seq_b, seq_a
        else:
            self.cur, self.seq, other = 0, seq_a, seq_b
        state = OK
        if other == -1:
            state = REPAIRED
            if repair and not self.store.read_only:
                self.rewrite_other()
        self.state = state
        if into is not None:
            _copy(into, 0, self.buf, 0, self.n)
        return state

    def rewrite_other(self):
        """Rewrite the non-current copy with the current payload and seq - 1."""
        saved_cur, saved_seq = self.cur, self.seq
        self.seq = (saved_seq - 2) & SEQ_MASK  # commit() writes the non-current copy, seq + 1
        try:
            self.commit()
        finally:
            self.cur, self.seq = saved_cur, saved_seq


def initial_registers(buf):
    """The register payload a fresh format writes: zero registers, no clock, no HH period."""
    for i in range(len(buf)):
        buf[i] = 0
    put_u32(buf, layout.REG_UTC, NO_TIME)
    put_u32(buf, layout.REG_PROFILE, NO_PERIOD)
    put_u32(buf, layout.REG_LAST, NO_PERIOD)


class Store:
    """The FRAM store. See the module docstring; `mount()` before use."""

    def __init__(self, fram, migrations=None):
        self.fram = fram
        # The staging buffer of RecordPair._write_changes, shared by every record (commits run
        # one at a time, never from an ISR), with its views of every length made here:
        # slicing at commit time would allocate, and 17 views in each of the 10 records cost
        # 8 KB of heap on the 64-bit unix port (bench heap_objects_bytes 38.2 -> 30.1 KB).
        self.stage = bytearray(_RUN_MAX)
        stage = memoryview(self.stage)
        self.stage_views = [stage[0:m] for m in range(_RUN_MAX + 1)]
        self.geo = layout.Geometry(fram.size)
        g = self.geo
        self.migrations = MIGRATIONS if migrations is None else migrations
        self.sb = RecordPair(
            self, "superblock", g.sb_a, g.sb_b, layout.SUPERBLOCK_PAYLOAD, MAGIC_SUPERBLOCK
        )
        self.reg = RecordPair(self, "registers", g.reg_a, g.reg_b, layout.REG_LEN, MAGIC_REGISTERS)
        self.regs = self.reg.buf  # the register payload others write into (layout.REG_*)
        self.configs = {}
        for name, n in layout.CONFIG_RECORDS:
            a, b, _n = g.config[name]
            self.configs[name] = RecordPair(self, name, a, b, n, MAGIC_CONFIG)
        self.log_heads = [0, 0, 0]  # maintained by firmware/events.py, saved per tick
        self.read_only = True  # until mount() succeeds
        self.mounted = False
        self.nvm_error = False
        self.errors = []
        self.repaired = []
        self.bytes_written = 0
        self.bytes_read = 0
        self.write_calls = 0

    # ---- raw access (counted; refused while read-only) -------------------------------------
    def write(self, addr, buf):
        if self.read_only:
            raise OSError(errno.EPERM, "FRAM store is read-only (unrecognised contents)")
        self.bytes_written += len(buf)
        self.write_calls += 1
        self.fram.write(addr, buf)

    def readinto(self, addr, buf):
        self.bytes_read += len(buf)
        self.fram.readinto(addr, buf)

    def fault(self, what):
        """Record a functionality error (the caller raises 0x81AE from `nvm_error`)."""
        self.nvm_error = True
        if what not in self.errors:
            self.errors.append(what)

    # ---- registers -------------------------------------------------------------------------
    def commit_registers(self, payload=None):
        """Commit the per-tick register record (default payload: self.regs). No allocation."""
        regs = self.regs
        heads = self.log_heads
        off = layout.REG_LOGS
        for i in range(3):
            put_u32(regs, off + 4 * i, heads[i])
        if payload is not None and payload is not regs:
            for i in range(off):
                regs[i] = payload[i]
        self.reg.commit()

    def load_registers(self, into=None):
        """Reload the register record into self.regs (and `into`); returns a state constant."""
        st = self.reg.load(False, into)
        if st in (INVALID, BLANK):
            self.fault("registers")
        return st

    def config(self, name):
        """The RecordPair of config record `name` (layout.CONFIG_RECORDS)."""
        return self.configs[name]

    # ---- mount / format --------------------------------------------------------------------
    def _sb_fields(self):
        b = self.sb.buf
        if b[0:4] != SB_ID:
            return None
        return (b[4] | (b[5] << 8), get_u32(b, 8), get_u32(b, 12))

    def mount(self):
        """Mount, format a blank part, or go read-only. Returns a report dict."""
        self.errors = []
        self.repaired = []
        self.nvm_error = False
        self.read_only = True
        st = self.sb.load(False)
        fields = self._sb_fields() if st in (OK, REPAIRED) else None
        if fields is None:
            if self._formattable():
                self.format(force=True, _checked=True)
                return self._report("formatted")
            self.fault("superblock")
            self._load_all(repair=False)
            return self._report("read-only")
        version, size, ghash = fields
        if version != layout.LAYOUT_VERSION:
            step = self.migrations.get(version)
            if step is None:
                raise ValueError(
                    "FRAM layout version %d, firmware has %d and no migration"
                    % (version, layout.LAYOUT_VERSION)
                )
            self.read_only = False
            step(self)
            self._write_superblock()
            self.repaired.append("migrated from v%d" % version)
        elif size != self.fram.size or ghash != self.geo.hash():
            raise ValueError(
                "FRAM superblock is for another geometry (size %d, hash %04x; here %d, %04x)"
                % (size, ghash, self.fram.size, self.geo.hash())
            )
        self.read_only = False
        if st == REPAIRED:
            self.sb.rewrite_other()
            self.repaired.append("superblock")
        self._load_all(repair=True)
        self.mounted = True
        return self._report("mounted")

    def _load_all(self, repair):
        st = self.reg.load(repair)
        if st == REPAIRED:
            self.repaired.append("registers")
        elif st != OK:
            self.fault("registers")
        for name, _n in layout.CONFIG_RECORDS:
            rec = self.configs[name]
            st = rec.load(repair)
            if st == REPAIRED:
                self.repaired.append(name)
            elif st == INVALID:
                self.fault(name)

    def _report(self, state):
        return {
            "state": state,
            "repaired": list(self.repaired),
            "errors": list(self.errors),
            "registers": STATE_NAMES[self.reg.state],
        }

    def _formattable(self):
        """Nothing outside the superblock/register areas, and no real register record."""
        g = self.geo
        chunk = bytearray(256)
        ref = None
        addr = g.config_start
        while addr < g.size:
            n = min(256, g.size - addr)
            view = memoryview(chunk)[:n]
            self.readinto(addr, view)
            if ref is None:
                if chunk[0] not in (0, 0xFF):
                    return False
                ref = bytearray(bytes((chunk[0],)) * 256)
            if view != memoryview(ref)[:n]:
                return False
            addr += n
        init = bytearray(layout.REG_LEN)
        initial_registers(init)
        for i in range(2):
            if self.reg._check(i) >= 0 and self.reg._scratch != init:
                return False
        return True

    def _write_superblock(self):
        b = self.sb.buf
        for i in range(len(b)):
            b[i] = 0
        b[0:4] = SB_ID
        b[4] = layout.LAYOUT_VERSION & 0xFF
        b[5] = layout.LAYOUT_VERSION >> 8
        put_u32(b, 8, self.fram.size)
        put_u32(b, 12, self.geo.hash())
        self.sb.commit()
        self.sb.commit()

    def format(self, force=False, _checked=False):
        """Initialise the part. Refused unless it is blank, or `force` (a service command)."""
        if not _checked and not force and not self._formattable():
            raise OSError(errno.EPERM, "FRAM holds data: format refused (use force)")
        self.read_only = False
        g = self.geo
        if not _checked:
            # A forced format of a used part must not leave old ring entries that still
            # pass CRC: zero everything after the superblock.
            zero = bytearray(256)
            addr = layout.SUPERBLOCK_AREA
            while addr < g.size:
                n = min(256, g.size - addr)
                self.write(addr, memoryview(zero)[:n])
                addr += n
        # Registers first, superblock last: a cut in between leaves a part that is still
        # "formattable" (see _formattable), so the next boot simply formats again.
        initial_registers(self.regs)
        self.log_heads[0] = self.log_heads[1] = self.log_heads[2] = 0
        self.reg.cur = -1
        self.reg.seq = 0
        self.commit_registers()
        self.commit_registers()
        for name, _n in layout.CONFIG_RECORDS:
            rec = self.configs[name]
            rec.cur = -1
            rec.seq = 0
            rec.state = BLANK
            for i in range(rec.n):
                rec.buf[i] = 0
        self.sb.cur = -1
        self.sb.seq = 0
        self._write_superblock()
        self.mounted = True
        self.nvm_error = False
        self.errors = []


class RamFram:
    """A FRAM stand-in over a bytearray (bench figures, fast host tests)."""

    def __init__(self, size=262144, fill=0):
        self.size = size
        self.image = bytearray(bytes((fill,)) * size)
        self.bytes_written = 0

    def readinto(self, addr, buf):
        n = len(buf)
        if addr < 0 or n > self.size - addr:
            raise ValueError("FRAM access out of range")
        img = self.image
        for i in range(n):
            buf[i] = img[addr + i]

    def write(self, addr, buf):
        n = len(buf)
        if addr < 0 or n > self.size - addr:
            raise ValueError("FRAM access out of range")
        img = self.image
        for i in range(n):
            img[addr + i] = buf[i]
        self.bytes_written += n


def write_costs(size=262144, ratio=1000):
    """FRAM bytes written per tick, per HH close, per log append and per config commit.

    For the bench report: measured on a RAM-backed part through the real code paths.
    "hh_close" is a steady-state close (ring full: the 4-channel record, the import-ring
    copy of the record it overwrites, and that tick's register commit).
    """
    from firmware.events import EventLogs
    from firmware.profile import Profile

    fram = RamFram(size)
    s = Store(fram)
    s.mount()
    logs = EventLogs(s)
    p = Profile(s, ratio)
    t = 800_000_000 - 800_000_000 % 1800 + 60
    p.accrue(t, 1, 0, 0, 0)
    s.commit_registers()
    b = s.bytes_written
    p.accrue(t + 1, 1, 0, 0, 0)
    s.commit_registers()
    tick = s.bytes_written - b
    p.first = 0  # pretend the history is full so the close also copies to the import ring
    b = s.bytes_written
    p.accrue(t + 1800, 1, 0, 0, 0)
    s.commit_registers()
    close = s.bytes_written - b
    b = s.bytes_written
    logs.log(0, 0x8001, 0, t)
    log = s.bytes_written - b
    b = s.bytes_written
    s.config("thresholds").commit()
    cfg = s.bytes_written - b
    return {
        "tick": tick,
        "hh_close": close,
        "log_append": log,
        "config_commit": cfg,
        "per_day": tick * 86400 + (close - tick) * 48,
    }
