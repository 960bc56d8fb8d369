"""FRAM layout: where every durable record lives, and the capacity arithmetic behind it.

docs/fram-layout.md is the prose version of this table; keep them in step. The fault model
(reliability.md §2) shapes three rules used throughout:

1. Every record is a pair of copies (A/B) or a ring of CRC-checked slots: a cut inside a write
   burst leaves a prefix new and the rest old, which a CRC detects.
2. A browning-out MCU may keep clocking a few garbage bytes after the interrupted write. The
   two copies of a pair are therefore separated by a GUARD gap larger than that tail, so a
   torn write to one copy cannot reach the other. In a ring the tail lands on the next slot,
   i.e. the oldest entry; rings therefore guarantee `slots - 1` entries, never `slots`.
3. Nothing here depends on blank FRAM contents (0x00 or 0xFF): blank slots simply fail CRC.

Areas, in address order (sizes for a 256 KiB MB85RS2MT; see `Geometry`):

    superblock     2 copies of "ESME" + version + size + geometry hash
    registers      the per-tick record pair (REG_* below)
    config         record pairs from CONFIG_RECORDS (append-only table)
    event log      LOG_SLOT-byte entries, ring
    security log   ring
    power log      ring
    profile 4ch    PROFILE4_SLOT-byte records: period u24, status u8, 4 x u24 Wh/varh, CRC-16
    profile import PROFILE1_SLOT-byte records: period u24, status u8, u24 Wh, CRC-16
    spare          unused tail (kept for later layout versions)

Capacity (256 KiB): 4-channel ring 4465 slots = 93 days guaranteed; import ring 14593 slots;
import history = 4465 + 14593 - 2 = 19056 periods = 397 days, the longest 13 calendar months
(e.g. July to July). 128 KiB and 64 KiB parts keep CoP 10's 20 days of all four channels and
as much import history as fits; smaller parts are refused.
"""

from micropython import const

from lib.crc import crc16_x25

LAYOUT_VERSION = const(1)
GUARD = const(32)  # gap after every record copy (> the 16-byte garbage tail of reliability T1c)
COPY_OVERHEAD = const(10)  # magic u16 + seq u32 + CRC-32

HALF_HOUR = const(1800)
PERIODS_PER_DAY = const(48)
# Retention targets (requirements.md §2): SMETS2 13 months of import (the longest 13 calendar
# months are 397 days) and 3 months of the others (93 days covers any 3 calendar months);
# CoP 10 needs 20 days of all four as the floor.
IMPORT_DAYS = const(397)
ALL4_DAYS = const(93)
COP10_DAYS = const(20)

PROFILE4_SLOT = const(18)
PROFILE1_SLOT = const(9)
LOG_SLOT = const(16)

# ---- register record payload (little-endian), committed once per tick ----------------------
# offset size field
#   0     4   tick counter (u32, the caller's)
#   4     4   meter seconds of the tick (u32, 0xFFFFFFFF = clock invalid): the outage start
#             time after a power cut (requirements.md §12)
#   8   176   energy registers: firmware/energy.py Accumulator.pack_into(regs, REG_ENERGY)
#             (172 bytes for 3 phases, 52 for 1 phase; rest zero)
# 184    64   application registers (TOU/block/prepayment, later): zero = unused
# 248    44   open HH period (firmware/profile.py): period u32, status u8, 3 pad, first
#             period u32, then per channel (AI, AE, RI, RE) whole u32, then remainder u32
# 292    24   last closed HH record: period u32, status u8, 3 pad, 4 x value u32
# 316    12   event-log heads (store-owned): next sequence number of each log, u32
REG_TICK = const(0)
REG_UTC = const(4)
REG_ENERGY = const(8)
REG_ENERGY_LEN = const(176)
REG_APP = const(184)
REG_APP_LEN = const(64)
REG_PROFILE = const(248)
REG_PROFILE_LEN = const(44)
REG_LAST = const(292)
REG_LAST_LEN = const(24)
REG_LOGS = const(316)
REG_LEN = const(328)

# ---- config records: (name, payload bytes). APPEND ONLY: a new record goes at the end and
# reads back BLANK on a device formatted before it existed; resizing or reordering an entry
# needs a new LAYOUT_VERSION and a migration.
CONFIG_RECORDS = (
    ("calibration", 64),
    ("identity", 96),
    ("thresholds", 64),
    ("alarms", 80),  # firmware/events.py Alarms state + write-ahead entry
    ("logmeta", 16),  # firmware/events.py: event-log clear watermark
    ("security", 96),  # firmware/cosem/security.py: LLS password, system title, HLS key sets
    ("seccount", 32),  # firmware/cosem/security.py: invocation counters, auth lockout
    ("keys", 112),  # firmware/cosem/security.py: HLS key sets + master keys after a key transfer
)
CONFIG_AREA = const(8192)
SUPERBLOCK_PAYLOAD = const(16)
SUPERBLOCK_AREA = const(256)

LOG_NAMES = ("event", "security", "power")


def pair_span(payload_len):
    """Bytes taken by a record pair: two copies, each followed by a guard gap."""
    return 2 * (payload_len + COPY_OVERHEAD + GUARD)


def _align(n, a=16):
    return (n + a - 1) // a * a


def log_slots(size):
    """Entries per log (event, security, power) for a part of `size` bytes."""
    if size >= 256 * 1024:
        return (1024, 512, 512)
    if size >= 128 * 1024:
        return (512, 256, 256)
    return (256, 128, 128)


class Geometry:
    """Addresses of every area for a part of `size` bytes (ValueError if it cannot fit).

    Profile ring sizing: the 4-channel ring gets at least COP10_DAYS (+1 spare slot), then
    the import ring grows towards IMPORT_DAYS of history, then the 4-channel ring towards
    ALL4_DAYS. Import history = slots4 + slots1 - 2 periods (see profile.py).
    """

    def __init__(self, size):
        if size <= 0:
            raise ValueError("FRAM size must be positive")
        self.size = size
        self.version = LAYOUT_VERSION
        at = 0
        self.sb_a = 0
        self.sb_b = SUPERBLOCK_AREA // 2
        at = SUPERBLOCK_AREA
        self.reg_a = at
        self.reg_b = at + REG_LEN + COPY_OVERHEAD + GUARD
        at = _align(at + pair_span(REG_LEN))
        self.config_start = at
        self.config = {}
        c = at
        for name, n in CONFIG_RECORDS:
            self.config[name] = (c, c + n + COPY_OVERHEAD + GUARD, n)
            c += pair_span(n)
        if c > at + CONFIG_AREA:
            raise ValueError("CONFIG_RECORDS exceed the config area")
        at += CONFIG_AREA
        self.log_start = at
        self.log_slots = log_slots(size)
        self.log_base = []
        for n in self.log_slots:
            self.log_base.append(at)
            at += n * LOG_SLOT
        self.fixed_end = at
        room = size - at
        min4 = COP10_DAYS * PERIODS_PER_DAY + 1
        if room < min4 * PROFILE4_SLOT + 2 * PROFILE1_SLOT:
            raise ValueError(
                "FRAM of %d bytes is too small: need at least %d"
                % (size, at + min4 * PROFILE4_SLOT + 2 * PROFILE1_SLOT)
            )
        hist = IMPORT_DAYS * PERIODS_PER_DAY + 2  # slots4 + slots1 for IMPORT_DAYS of history
        want4 = ALL4_DAYS * PERIODS_PER_DAY + 1
        s4 = min4
        s1 = min(hist - s4, (room - s4 * PROFILE4_SLOT) // PROFILE1_SLOT)
        if s1 == hist - s4:
            # Import history complete: trade import-ring slots for 4-channel slots (each
            # swap costs 9 more bytes) up to ALL4_DAYS.
            extra = (room - s4 * PROFILE4_SLOT - s1 * PROFILE1_SLOT) // (
                PROFILE4_SLOT - PROFILE1_SLOT
            )
            grow = min(extra, want4 - s4)
            s4 += grow
            s1 -= grow
        self.slots4 = s4
        self.slots1 = s1
        self.p4_base = at
        at += s4 * PROFILE4_SLOT
        self.p1_base = at
        at += s1 * PROFILE1_SLOT
        self.used = at
        self.spare = size - at

    def import_periods(self):
        """Half hours of import history guaranteed (newest closed period included)."""
        return self.slots4 + self.slots1 - 2

    def all4_periods(self):
        """Half hours of all four channels guaranteed."""
        return self.slots4 - 1

    def areas(self):
        """(name, start, length) in address order: for docs, tests and the geometry hash."""
        out = [
            ("superblock", 0, SUPERBLOCK_AREA),
            ("registers", self.reg_a, self.config_start - self.reg_a),
            ("config", self.config_start, CONFIG_AREA),
        ]
        for i in range(3):
            out.append(("log_" + LOG_NAMES[i], self.log_base[i], self.log_slots[i] * LOG_SLOT))
        out.append(("profile4", self.p4_base, self.slots4 * PROFILE4_SLOT))
        out.append(("profile1", self.p1_base, self.slots1 * PROFILE1_SLOT))
        out.append(("spare", self.used, self.spare))
        return out

    def hash(self):
        """CRC-16 over version, size and the top-level area table (not the inside of the
        config area, which grows append-only)."""
        buf = bytearray(8)
        run = 0xFFFF
        table = [("", self.version, self.size)] + self.areas()
        for _name, start, length in table:
            for i in range(4):
                buf[i] = (start >> (8 * i)) & 0xFF
                buf[4 + i] = (length >> (8 * i)) & 0xFF
            run = crc16_x25(buf, 0, 8, run) ^ 0xFFFF
        return run ^ 0xFFFF
