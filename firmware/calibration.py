"""Calibration of the metering front end: the procedure, the stored record, the boot hook.

Chip formulas (reference/chips.md):

    ADE7953 [DS p.34-35; §1.6]  gains xVGAIN/xIGAIN/xWGAIN/xVARGAIN/xVAGAIN: output = value x
        gain / 0x400000, so a new gain is old x reference / measured (for a fresh chip that is
        gain_for_error: 0x400000 / (1 + e)); PHCALA: 10-bit sign-magnitude, 1.117 us a step,
        a delay (positive) makes the current lag more; AIRMSOS acts before the square root,
        AWATTOS is in 1/512 of an AWATT LSB.
    ATM90E32 [AN §4.2.6-4.2.7; §2.5]  Ugain/Igain = old x V_ref / V_meas (A6, rounded as the
        app note does); PQGain = -e / (1 + e) x 2^15 (A7, truncated), generalised to
        (2^15 + old) x ref / meas - 2^15; PhiX = e x G (G = 3763.739 at 50 Hz); Ioffset /
        Poffset: two's complement of the no-load reading in register units.

Phase from the error at PF 0.5 lagging (the app note's method): cos(60 deg + d) / cos 60 deg =
1 + e gives, for small d, d = -e / sqrt3 rad. A positive e (power reads high: the current
leads) needs a delay: PHCAL steps = e / (sqrt3 x 2 pi f x 1.117 us), PhiX = e x G.

Procedure (`Procedure`; every step only reads the instantaneous registers through
`afe.measure_into`, averaging `windows` windows, so the energy registers, which are read-clear,
stay the meter's alone):

    1. reset()        unity gains, zero offsets and phase written to the chip
    2. offsets()      at no load (voltage on, no current): current RMS and watt offsets
    3. gains(refs)    at PF 1: V and I gains; re-measure; power gains (P, and S on the ADE7953)
    4. phase(refs)    at PF 0.5 lagging: PHCAL / Phi; the ADE7953 then sets AVARGAIN from Q
    5. gains(refs)    at PF 1 again (optional): removes the cos(d) the first pass absorbed
    6. errors(refs)   verify: remaining errors in ppm per phase (V, I, P, Q, S)
    7. save(store, logs, utc)   the CoP 10 "data changed by port" event, then the record

`refs` holds one (v_mv, i_ma, p_mw, q_mvar, s_mva) tuple per phase from the reference meter
(on the virtual board: the grid model). All maths is integer (it may run on the board).

Record (store.config("calibration"), 64 bytes, CRC-32 and A/B copies from the store's
RecordPair): version u8 | chip u8 (1 ADE7953, 2 ATM90E32) | n u8 | flags u8 (bit 0: verified)
| UTC u32 (0xFFFFFFFF: clock invalid) | n x i24 little-endian values in the chip's key order
(ADE_KEYS / ATM_KEYS). `apply_stored` at boot writes a valid record to the chip; a record
that is corrupt (both copies bad), of another version or chip, or out of range is never
applied: the chip keeps its defaults and the calibration functionality error is raised.
"""

from array import array

from micropython import const

from firmware import codes
from firmware.store import BLANK, INVALID, NO_TIME, get_u32, put_u32

VERSION = const(1)
CHIP_ADE7953 = const(1)
CHIP_ATM90E32 = const(2)
RECORD = "calibration"
_HDR = const(8)
FLAG_VERIFIED = const(1)

# Fault reasons (event value of codes.CALIBRATION_FAULT).
FAULT_CORRUPT = const(1)  # both record copies bad
FAULT_CONTENT = const(2)  # unknown version, another chip, or a value out of range
FAULT_WRITE = const(3)  # the chip did not take the values

ADE_KEYS = ("avgain", "aigain", "awgain", "avargain", "avagain", "airmsos", "awattos", "phcala")
_ATM_BASE = ("ugain", "igain", "pqgain", "phi", "ioffset", "poffset")
ATM_KEYS = tuple(k + "_" + ph for ph in ("a", "b", "c") for k in _ATM_BASE)

_ADE_UNITY = const(0x400000)
_ATM_UNITY = const(0x8000)
# sqrt3 x 2 pi x 1.117 us, x 10^16 / 10^6: PHCAL steps = e x 10^16 / (this x f_mHz).
_ADE_PHCAL_K = const(121_560_833)


# ---- integer helpers -------------------------------------------------------------------
def _round_div(a, b):
    """a / b rounded half away from zero (b > 0)."""
    q = (abs(a) * 2 + b) // (2 * b)
    return -q if a < 0 else q


def _trunc_div(a, b):
    q = abs(a) // b
    return -q if a < 0 else q


def scale_gain(old, ref, meas):
    """A gain register that turns `meas` into `ref`: old x ref / meas, rounded (chips.md A6)."""
    if meas <= 0 or ref <= 0:
        raise ValueError("no reading to calibrate against")
    return _round_div(old * ref, meas)


def pq_gain_for(old, ref, meas):
    """ATM90E32 PQGain (signed) after `old`: (2^15 + old) x ref / meas - 2^15, truncated as the
    app note's -e / (1 + e) x 2^15 (chips.md A7 when old = 0)."""
    if meas == 0 or ref == 0 or (meas < 0) != (ref < 0):
        raise ValueError("no power reading to calibrate against")
    g = _trunc_div((_ATM_UNITY + old) * abs(ref), abs(meas)) - _ATM_UNITY
    if not -0x8000 <= g <= 0x7FFF:
        raise ValueError("PQGain out of range")
    return g


def ade_phcal_steps(err_num, err_den, f_mhz):
    """PHCAL steps (signed, + = delay the current) for an error e = num/den at PF 0.5 lag."""
    if err_den <= 0 or f_mhz <= 0:
        raise ValueError("error or frequency")
    return _round_div(err_num * 10_000_000_000_000_000, err_den * _ADE_PHCAL_K * f_mhz)


def atm_phi(err_num, err_den, f_mhz):
    """PhiX (signed) for an error e at PF 0.5 lag: e x G, G for 50 or 60 Hz (chips.md §2.5)."""
    if err_den <= 0:
        raise ValueError("error")
    g = 3_136_449 if f_mhz > 55_000 else 3_763_739  # G x 1000 (same as hal/atm90e32 phi_gain)
    return _round_div(err_num * g, err_den * 1000)


# ---- record ----------------------------------------------------------------------------
def chip_of(afe):
    return CHIP_ADE7953 if afe.phases == 1 else CHIP_ATM90E32


def keys_of(chip):
    if chip == CHIP_ADE7953:
        return ADE_KEYS
    if chip == CHIP_ATM90E32:
        return ATM_KEYS
    raise ValueError("unknown chip")


def defaults(chip):
    """The chip's reset calibration: unity gains, no offset, no phase correction."""
    out = {}
    for key in keys_of(chip):
        if chip == CHIP_ADE7953:
            out[key] = _ADE_UNITY if key.endswith("gain") else 0
        else:
            out[key] = _ATM_UNITY if key[1:5] == "gain" else 0  # ugain_x, igain_x
    return out


def check(chip, values):
    """ValueError unless `values` has exactly the chip's keys, each in its register's range."""
    keys = keys_of(chip)
    if len(values) != len(keys):
        raise ValueError("calibration keys")
    for key in keys:
        v = values[key]  # KeyError for a missing key is turned into ValueError below
        if chip == CHIP_ADE7953:
            if key.endswith("gain"):
                ok = 0x200000 <= v <= 0x600000
            elif key == "phcala":
                ok = -383 <= v <= 383
            else:
                ok = -0x800000 <= v <= 0x7FFFFF
        elif key.startswith("ugain") or key.startswith("igain"):
            ok = 0 < v <= 0xFFFF
        else:
            ok = -0x8000 <= v <= 0x7FFF
        if not ok:
            raise ValueError("calibration value out of range: " + key)


def pack_into(buf, chip, values, utc=None, flags=0):
    """Write the record payload (64 bytes) for `values`."""
    try:
        check(chip, values)
    except KeyError:
        raise ValueError("calibration keys")
    keys = keys_of(chip)
    for i in range(len(buf)):
        buf[i] = 0
    buf[0] = VERSION
    buf[1] = chip
    buf[2] = len(keys)
    buf[3] = flags
    put_u32(buf, 4, NO_TIME if utc is None else utc)
    o = _HDR
    for key in keys:
        v = values[key] & 0xFFFFFF
        buf[o] = v & 0xFF
        buf[o + 1] = (v >> 8) & 0xFF
        buf[o + 2] = v >> 16
        o += 3
    return buf


def unpack(buf):
    """(chip, values, utc or None, flags) from a record payload; ValueError if not valid."""
    if buf[0] != VERSION:
        raise ValueError("calibration record version")
    chip = buf[1]
    keys = keys_of(chip)
    if buf[2] != len(keys) or _HDR + 3 * len(keys) > len(buf):
        raise ValueError("calibration record length")
    values = {}
    o = _HDR
    for key in keys:
        v = buf[o] | (buf[o + 1] << 8) | (buf[o + 2] << 16)
        values[key] = v - 0x1000000 if v & 0x800000 else v
        o += 3
    check(chip, values)
    utc = get_u32(buf, 4)
    return chip, values, (None if utc == NO_TIME else utc), buf[3]


# ---- events ----------------------------------------------------------------------------
def _fault(logs, alarms, active, reason, utc):
    """Raise or clear the calibration functionality error (CoP 10: logged on and off)."""
    if alarms is not None:
        alarms.set(
            codes.CALIBRATION_FAULT,
            codes.CALIBRATION_FAULT_CLEARED,
            active,
            utc,
            reason,
            codes.LOG_EVENT,
        )
    elif logs is not None and active:
        logs.log(codes.LOG_EVENT, codes.CALIBRATION_FAULT, reason, utc)


def _context(meter_or_store, logs, alarms, utc):
    """Accept a firmware.meter.Meter (store, logs, alarms, clock) or a bare Store."""
    store = getattr(meter_or_store, "store", None)
    if store is None:
        return meter_or_store, logs, alarms, utc
    if logs is None:
        logs = meter_or_store.logs
    if alarms is None:
        alarms = meter_or_store.alarms
    if utc is None and meter_or_store.clock is not None:
        utc = meter_or_store.clock.timestamp_or_none()
    return store, logs, alarms, utc


def apply_stored(meter_or_store, afe, logs=None, alarms=None, utc=None):
    """Boot hook, after afe.begin() (which resets the chip's calibration) and Meter.boot().

    Returns "applied", "blank" (never calibrated: chip defaults), "invalid" (corrupt or
    foreign record: defaults kept, fault raised) or "write-failed" (fault raised)."""
    store, logs, alarms, utc = _context(meter_or_store, logs, alarms, utc)
    rec = store.config(RECORD)
    if rec.state == BLANK:
        return "blank"
    if rec.state == INVALID:
        _fault(logs, alarms, True, FAULT_CORRUPT, utc)
        return "invalid"
    try:
        chip, values, _t, _f = unpack(rec.buf)
        if chip != chip_of(afe):
            raise ValueError("calibration record is for another chip")
    except ValueError:
        _fault(logs, alarms, True, FAULT_CONTENT, utc)
        return "invalid"
    try:
        afe.write_calibration(values)
    except OSError:
        _fault(logs, alarms, True, FAULT_WRITE, utc)
        return "write-failed"
    _fault(logs, alarms, False, 0, utc)
    return "applied"


def stored(store):
    """(chip, values, utc, flags) of the stored record, or None if blank/invalid."""
    rec = store.config(RECORD)
    if rec.state in (BLANK, INVALID):
        return None
    try:
        return unpack(rec.buf)
    except ValueError:
        return None


# ---- the procedure ---------------------------------------------------------------------
class Procedure:
    """Calibrate one AFE against a reference (module docstring). `sleep_ms(ms)` waits; one
    measurement averages `windows` readings taken `window_ms` apart."""

    def __init__(self, afe, sleep_ms, windows=4, window_ms=1000):
        if windows < 1:
            raise ValueError("windows")
        self.afe = afe
        self.chip = chip_of(afe)
        self.phases = afe.phases
        self.windows = windows
        self.window_ms = window_ms
        self._sleep = sleep_ms
        self.values = defaults(self.chip)
        self.verified = False
        self._fig = array("l", [0] * (7 * afe.phases))

    # ---- plumbing --------------------------------------------------------------------
    def _key(self, base, p):
        if self.chip == CHIP_ADE7953:
            return base
        return base + "_" + "abc"[p]

    def _write(self, changes):
        for k in changes:
            self.values[k] = changes[k]
        check(self.chip, self.values)
        self.afe.write_calibration(changes)

    def measure(self):
        """Per phase, the mean of `windows` readings: [v, i, p, q, s, pf, f]."""
        n = 7 * self.phases
        sums = [0] * n
        fig = self._fig
        for _ in range(self.windows):
            self._sleep(self.window_ms)
            self.afe.measure_into(fig)
            for k in range(n):
                sums[k] += fig[k]
        return [
            [_round_div(sums[7 * p + k], self.windows) for k in range(7)]
            for p in range(self.phases)
        ]

    # ---- steps -----------------------------------------------------------------------
    def reset(self):
        """Unity gains, zero offsets and phase: every later step measures from scratch."""
        self.values = defaults(self.chip)
        self.verified = False
        self.afe.write_calibration(self.values)

    def offsets(self):
        """At no load with the voltage on: current RMS offset and watt offset."""
        m = self.measure()
        ch = {}
        for p in range(self.phases):
            i_ma, p_mw = m[p][1], m[p][2]
            if self.chip == CHIP_ADE7953:
                # IRMS LSB per mA and AWATT mW per LSB: the driver's front-end scales
                # (hal/ade7953.py SCALES or the board's own).
                si, sp = self.afe._scales[1], self.afe._scales[2]
                lsb = i_ma * si[1] // si[0]
                ch["airmsos"] = -(lsb * lsb)
                ch["awattos"] = -_round_div(p_mw * 512 * sp[1], sp[0])
            else:
                ch[self._key("ioffset", p)] = -i_ma * 512  # 1/512 mA: (32-bit RMS) >> 7
                ch[self._key("poffset", p)] = -_round_div(p_mw * 25, 8)  # 0.32 mW LSB
        self._write(ch)
        return ch

    def gains(self, refs):
        """At PF 1: V and I gains, then (re-measured) the power gains."""
        m = self.measure()
        ch = {}
        for p in range(self.phases):
            ref = refs[p]
            if self.chip == CHIP_ADE7953:
                names = ("avgain", "aigain")
            else:
                names = (self._key("ugain", p), self._key("igain", p))
            for k in (0, 1):
                ch[names[k]] = scale_gain(self.values[names[k]], ref[k], m[p][k])
        self._write(ch)
        m = self.measure()
        ch = {}
        for p in range(self.phases):
            ref = refs[p]
            if self.chip == CHIP_ADE7953:
                ch["awgain"] = scale_gain(self.values["awgain"], ref[2], m[p][2])
                ch["avagain"] = scale_gain(self.values["avagain"], ref[4], m[p][4])
            else:
                key = self._key("pqgain", p)
                ch[key] = pq_gain_for(self.values[key], ref[2], m[p][2])
        self._write(ch)
        return ch

    def phase(self, refs):
        """At PF 0.5 lagging: phase correction from the active power error; on the ADE7953
        the reactive gain from the re-measured Q."""
        m = self.measure()
        ch = {}
        for p in range(self.phases):
            ref_p = refs[p][2]
            num, den = m[p][2] - ref_p, ref_p
            if den <= 0:
                raise ValueError("the phase step needs an importing load")
            key = self._key("phcala" if self.chip == CHIP_ADE7953 else "phi", p)
            if self.chip == CHIP_ADE7953:
                ch[key] = self.values[key] + ade_phcal_steps(num, den, m[p][6])
            else:
                ch[key] = self.values[key] + atm_phi(num, den, m[p][6])
        self._write(ch)
        if self.chip == CHIP_ADE7953:
            m = self.measure()
            self._write({"avargain": scale_gain(self.values["avargain"], refs[0][3], m[0][3])})
        return ch

    def errors(self, refs):
        """Verify: per phase [V, I, P, Q, S] errors in ppm against `refs` (0 where ref = 0)."""
        m = self.measure()
        out = []
        for p in range(self.phases):
            row = []
            for k in range(5):
                ref = refs[p][k]
                row.append(_round_div((m[p][k] - ref) * 1_000_000, abs(ref)) if ref else 0)
            out.append(row)
        return out

    def run(self, set_load, verify_ppm=1000):
        """The whole procedure. `set_load(step)` for step "none", "pf1", "pf0.5" makes the
        reference apply that load and returns its refs (pf steps) or None. Returns the
        verification errors {"pf1": .., "pf0.5": ..}; `verified` when all are within
        `verify_ppm` (default 0.1 %)."""
        self.reset()
        set_load("none")
        self.offsets()
        refs1 = set_load("pf1")
        self.gains(refs1)
        refs5 = set_load("pf0.5")
        self.phase(refs5)
        refs1 = set_load("pf1")
        self.gains(refs1)
        e1 = self.errors(refs1)
        refs5 = set_load("pf0.5")
        e5 = self.errors(refs5)
        worst = 0
        for rows in (e1, e5):
            for row in rows:
                for k in (0, 1, 2, 4):
                    worst = max(worst, abs(row[k]))
        self.verified = worst <= verify_ppm
        return {"pf1": e1, "pf0.5": e5, "worst_ppm": worst}

    def save(self, meter_or_store, logs=None, alarms=None, utc=None):
        """Persist the values. The CoP 10 "port access which changes data other than
        time/date" entry is logged first, so a power cut can never leave an unlogged change."""
        store, logs, alarms, utc = _context(meter_or_store, logs, alarms, utc)
        rec = store.config(RECORD)
        buf = bytearray(rec.n)
        pack_into(buf, self.chip, self.values, utc, FLAG_VERIFIED if self.verified else 0)
        if logs is not None:
            value = codes.CHANGED_BY_CALIBRATION
            logs.log(codes.LOG_EVENT, codes.DATA_CHANGED_BY_PORT, value, utc)
        rec.commit(buf)
        _fault(logs, alarms, False, 0, utc)
        return buf


def summary(values):
    """Sorted (key, value) pairs, for printing."""
    return [(k, values[k]) for k in sorted(values)]
