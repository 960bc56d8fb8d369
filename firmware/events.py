"""Event, Security and Power Event logs on FRAM, and the self-clearing alarm set.

requirements.md §14: SMETS2 keeps an Event Log, a Security Log and a Power Event Log, each a
circular buffer of (timestamp, event code, value) that overwrites the oldest entry; ECS15a
clears the Event Log (and raises 0x8F52); nothing clears the Security Log. CoP 10 alarms
(MCOP 5.5.3) reset automatically when the condition clears, both transitions are logged, and
interrogation never cancels them.

Entry (16 bytes, little-endian): seq u32 | UTC meter seconds u32 (0xFFFFFFFF when the clock
is invalid: never a bogus time) | code u16 | value i32 | CRC-16/X.25 over the first 14 bytes.
Entry `seq` always lives in slot `seq % slots`, so a slot's sequence number tells a current
entry from one of an earlier lap, and no head pointer has to be written per append.

Heads: each log's next sequence number is saved in the register record at every tick
(store.log_heads -> layout.REG_LOGS). At mount the head is the saved value, moved forward
over any entries appended after the last tick commit (a short probe, which steps over up to
_LOOKAHEAD damaged slots). Without a valid register record every slot is scanned.

Overflow policy: the oldest entry is overwritten. A torn append may leave garbage in the next
slot, i.e. the oldest entry, so a log guarantees `slots - 1` entries. The Security Log is
append-only: `clear()` refuses it. Clearing the Event Log writes 0x8F52 first, then commits a
watermark below which entries are no longer reported (so a cut cannot clear without the
0x8F52 entry). Reads never write.

Alarms are exactly-once across power cuts: the new alarm state is committed together with
the entry about to be logged (write-ahead), then the entry is appended; at boot an entry that
the state names but the log lacks is written then.
"""

import struct

from micropython import const

from firmware import codes, layout
from firmware.store import BLANK, INVALID, NO_TIME, crc16, get_u32, put_u32

LOG_EVENT = codes.LOG_EVENT
LOG_SECURITY = codes.LOG_SECURITY
LOG_POWER = codes.LOG_POWER

_LOOKAHEAD = const(4)
_ENTRY = const(16)


def log_for(code):
    """Default log of a GBCS code (requirements.md §13/§14 routing; ACL event tables).

    Security Log: tamper, authentication failures, firmware verification failure, clock
    change refused (> 10 s). Power Event Log: the voltage family and reverse current, and the
    supply-restored alerts (0x8F35-0x8F3C) [I]. Everything else: Event Log.
    """
    if code in (0x8F0C, 0x8F3F, 0x8F1C, 0x8F3D, 0x8F3E, 0x8F30, 0x8F53, 0x8F1E, 0x8F60):
        return LOG_SECURITY
    if 0x8F74 <= code <= 0x8F78:
        return LOG_SECURITY
    if 0x8002 <= code <= 0x802F or 0x8085 <= code <= 0x809C or code == 0x81BB:
        return LOG_POWER
    if 0x8F35 <= code <= 0x8F3C:
        return LOG_POWER
    return LOG_EVENT


class EventLogs:
    """The three rings. `log(log_id, code, value, utc_or_None)` is the firmware's sink."""

    def __init__(self, store):
        self.store = store
        g = store.geo
        self.base = g.log_base
        self.slots = g.log_slots
        self.heads = store.log_heads  # shared: the store saves them with every tick commit
        self.dropped = 0  # entries not written because the store is read-only
        self._e = bytearray(_ENTRY)
        self._out = [0, 0, 0, 0]
        self._meta = store.config("logmeta")
        self.cleared = 0
        if self._meta.state not in (BLANK, INVALID):
            self.cleared = get_u32(self._meta.buf, 0)
        regs_ok = store.reg.state not in (BLANK, INVALID)
        for i in range(3):
            if regs_ok:
                self.heads[i] = self._probe(i, get_u32(store.regs, layout.REG_LOGS + 4 * i))
            else:
                self.heads[i] = self._scan(i)

    # ---- mount helpers ------------------------------------------------------------------
    def _probe(self, log_id, seq):
        out = self._out
        head = seq
        misses = 0
        s = seq
        limit = seq + self.slots[log_id]
        while misses <= _LOOKAHEAD and s < limit:
            if self.read(log_id, s, out, True):
                head = s + 1
                misses = 0
            else:
                misses += 1
            s += 1
        return head

    def _scan(self, log_id):
        e = self._e
        best = -1
        for slot in range(self.slots[log_id]):
            self.store.readinto(self.base[log_id] + slot * _ENTRY, e)
            if crc16(e, 0, 14) == e[14] | (e[15] << 8):
                s = get_u32(e, 0)
                if s % self.slots[log_id] == slot and s > best:
                    best = s
        return best + 1

    # ---- writing ------------------------------------------------------------------------
    def _put(self, log_id, seq, code, value, utc):
        e = self._e
        put_u32(e, 0, seq)
        put_u32(e, 4, -1 if utc is None else utc)  # -1 packs as 0xFFFFFFFF
        e[8] = code & 0xFF
        e[9] = (code >> 8) & 0xFF
        struct.pack_into("<i", e, 10, value)
        crc = crc16(e, 0, 14)
        e[14] = crc & 0xFF
        e[15] = crc >> 8
        self.store.write(self.base[log_id] + (seq % self.slots[log_id]) * _ENTRY, e)

    def log(self, log_id, code, value=0, utc=None):
        """Append an entry; returns its sequence number (-1 if the store is read-only)."""
        if log_id < 0 or log_id > 2:
            raise ValueError("unknown log %r" % (log_id,))
        if self.store.read_only:
            self.dropped += 1
            return -1
        seq = self.heads[log_id]
        self._put(log_id, seq, code, value, utc)
        self.heads[log_id] = seq + 1
        return seq

    def __call__(self, log_id, code, value, utc):
        """The event sink signature used across the firmware."""
        return self.log(log_id, code, value, utc)

    def clear(self, log_id, utc=None):
        """ECS15a: clear the Event Log (logs 0x8F52). The other logs have no delete path."""
        if log_id != LOG_EVENT:
            raise ValueError("only the Event Log can be cleared")
        seq = self.log(LOG_EVENT, codes.EVENT_LOG_CLEARED, 0, utc)
        if seq < 0:
            return
        b = self._meta.buf
        put_u32(b, 0, seq)
        self._meta.commit()
        self.cleared = seq

    # ---- reading (never writes) ---------------------------------------------------------
    def read(self, log_id, seq, out, _any=False):
        """Fill out[0:4] = seq, utc (None if invalid), code, value; True if kept and valid."""
        if not _any and (seq < self.first(log_id) or seq >= self.heads[log_id]):
            return False
        e = self._e
        self.store.readinto(self.base[log_id] + (seq % self.slots[log_id]) * _ENTRY, e)
        if crc16(e, 0, 14) != e[14] | (e[15] << 8) or get_u32(e, 0) != seq:
            return False
        out[0] = seq
        t = get_u32(e, 4)
        out[1] = None if t == NO_TIME else t
        out[2] = e[8] | (e[9] << 8)
        v = get_u32(e, 10)
        out[3] = v - 0x100000000 if v & 0x80000000 else v
        return True

    def first(self, log_id):
        """Oldest sequence number still reported (guaranteed: slots - 1 entries)."""
        lo = self.heads[log_id] - (self.slots[log_id] - 1)
        if log_id == LOG_EVENT and self.cleared > lo:
            lo = self.cleared
        return max(lo, 0)

    def count(self, log_id):
        return self.heads[log_id] - self.first(log_id)

    def newest(self, log_id, i, out):
        """Entry i counted back from the newest (0 = newest)."""
        return self.read(log_id, self.heads[log_id] - 1 - i, out)

    def entries(self, log_id, out=None):
        """Yield the kept entries oldest first: `out` refilled, or new (seq, utc, code, value)."""
        buf = out if out is not None else [0, 0, 0, 0]
        for s in range(self.first(log_id), self.heads[log_id]):
            if self.read(log_id, s, buf):
                yield buf if out is not None else (buf[0], buf[1], buf[2], buf[3])


# Alarm state record (config "alarms", 80 bytes):
#   0 u8 active count | 1 u8 pending flag | 2 u8 pending log | 3 pad
#   4 u32 pending seq | 8 u32 pending utc | 12 u16 pending code | 14 pad | 16 i32 pending value
#  20 u16 x 24 active alarm codes (their "on" codes)
_A_MAX = const(24)
_A_CODES = const(20)


class Alarms:
    """Alarm conditions: each on/off transition logged once; state survives reboots."""

    def __init__(self, logs, store):
        self.logs = logs
        self.store = store
        self._rec = store.config("alarms")
        self._active = []
        self.overflow = 0
        b = self._rec.buf
        if self._rec.state in (BLANK, INVALID):
            return
        n = min(b[0], _A_MAX)
        for i in range(n):
            o = _A_CODES + 2 * i
            self._active.append(b[o] | (b[o + 1] << 8))
        if b[1] and not store.read_only:
            log_id = b[2]
            seq = get_u32(b, 4)
            if 0 <= log_id <= 2 and logs.heads[log_id] == seq:
                # The state was committed but the entry never made it: write it now.
                t = get_u32(b, 8)
                v = get_u32(b, 16)
                logs.log(
                    log_id,
                    b[12] | (b[13] << 8),
                    v - 0x100000000 if v & 0x80000000 else v,
                    None if t == NO_TIME else t,
                )

    def is_active(self, code_on):
        return code_on in self._active

    def active(self):
        """The active alarms' "on" codes (a copy; reading clears nothing)."""
        return list(self._active)

    def set(self, code_on, code_off, active, utc, value=0, log_id=None):
        """Report a condition. Logs code_on / code_off (None = none) on a transition only.

        Returns True when the state changed.
        """
        active = bool(active)
        if active == (code_on in self._active):
            return False
        if active:
            self._active.append(code_on)
            code = code_on
        else:
            self._active.remove(code_on)
            code = code_off
        if code is None:
            self._save(None, 0, 0, 0, utc)
            return True
        lid = log_for(code) if log_id is None else log_id
        self._save(lid, self.logs.heads[lid], code, value, utc)
        self.logs.log(lid, code, value, utc)
        return True

    def _save(self, log_id, seq, code, value, utc):
        if self.store.read_only:
            return
        b = self._rec.buf
        n = len(self._active)
        if n > _A_MAX:
            self.overflow += 1
            n = _A_MAX
        b[0] = n
        b[1] = 0 if log_id is None else 1
        b[2] = 0 if log_id is None else log_id
        put_u32(b, 4, seq)
        put_u32(b, 8, -1 if utc is None else utc)
        b[12] = code & 0xFF
        b[13] = (code >> 8) & 0xFF
        struct.pack_into("<i", b, 16, value)
        for i in range(_A_MAX):
            c = self._active[i] if i < n else 0
            b[_A_CODES + 2 * i] = c & 0xFF
            b[_A_CODES + 2 * i + 1] = c >> 8
        self._rec.commit()


def report_mount(report, store, logs, alarms, utc=None):
    """After boot: log a format or repairs, and raise/clear the NVM error alarm (0x81AE)."""
    if report["state"] == "formatted":
        logs.log(LOG_EVENT, codes.STORE_FORMATTED, store.fram.size >> 10, utc)
    if report["repaired"]:
        logs.log(LOG_EVENT, codes.STORE_REPAIRED, len(report["repaired"]), utc)
    alarms.set(
        codes.NVM_ERROR,
        codes.NVM_ERROR_CLEARED,
        store.nvm_error,
        utc,
        len(store.errors),
        LOG_EVENT,
    )
