"""Scenarios for firmware/energy.py, firmware/creep.py and firmware/monitor.py.

Run under CPython and the MicroPython unix port; every function returns plain JSON data that
the tests compare with values computed independently (Python big ints and Fractions).
"""

import gc
from array import array

import micropython

from firmware import codes
from firmware.creep import CreepGate
from firmware.energy import KWH_WRAP, Accumulator
from firmware.monitor import FIG_I_MA, FIG_V_MV, FIGS_PER_PHASE, Monitor

ATM = (3125, 1)  # ATM90E32 at MC = 3200: 0.01 CF = 3.125 mWh
ADE = (125, 3)  # the virtual ADE7953 front end: 150 000 uJ


def _ratio(r):
    return (r[0], r[1])


class _Lcg:
    """Deterministic 31-bit generator: identical sequences on both interpreters."""

    def __init__(self, seed):
        self.x = seed & 0x7FFFFFFF

    def below(self, n):
        self.x = (self.x * 1103515245 + 12345) & 0x7FFFFFFF
        return (self.x >> 8) % n if n > 0 else 0


def _ideal_counts(t, p_w_num, p_w_den, count_uwh):
    """Cumulative counts of an ideal AFE after t seconds at p_w_num/p_w_den watts (floor)."""
    num, den = count_uwh
    # energy uWh = t * P * 10**6 / 3600; counts = energy * den / num
    return (t * p_w_num * 1_000_000 * den) // (3600 * p_w_den * num)


def _regs(acc):
    return [[acc.wh(s), acc.remainder(s)] for s in range(acc.n_slots)]


# ---- accumulator -------------------------------------------------------------------------
def d4(count_uwh):
    """chips.md §8.2 D4: 1000 W for 3600 one-second ticks, counts from an ideal AFE."""
    count_uwh = _ratio(count_uwh)
    acc = Accumulator(1, count_uwh)
    counts = array("l", [0, 0, 0, 0])
    prev = 0
    total = 0
    for t in range(1, 3601):
        c = _ideal_counts(t, 1000, 1, count_uwh)
        counts[0] = c - prev
        prev = c
        total += counts[0]
        acc.on_tick(counts, True)
    s = acc.slot(None, 0)
    fine = acc.fine(s)
    return {
        "unit": acc.unit,
        "counts": total,
        "wh": acc.wh(s),
        "rem": acc.remainder(s),
        # Tasmota's kWhtoday unit, 10**-5 kWh = 1/100 Wh, floored.
        "tasmota_units": fine * 100 // acc.unit,
    }


def a3():
    """chips.md §8.1 A3: 320 counts at MC 3200 are 1.000 Wh."""
    acc = Accumulator(1, ATM)
    acc.on_tick(array("l", [320, 0, 0, 0]), True)
    return [acc.wh(0), acc.remainder(0), acc.delta_wh[0], acc.delta_fine[0], acc.unit]


def carry_table():
    """chips.md §8.3: P = 1234.5 W for 9.8 s per period, one count = 0.1 J = (1000, 36) uWh."""
    acc = Accumulator(1, (1000, 36))
    out = []
    counts = array("l", [120_981, 0, 0, 0])  # 12 098.1 J per period
    for _ in range(3):
        acc.on_tick(counts, True)
        out.append([acc.wh(0), acc.remainder(0), acc.delta_wh[0], list(acc.net())])
    neg = Accumulator(1, (1000, 36))
    neg.on_tick(array("l", [0, 50_000, 0, 0]), True)  # -500 W for 10 s = -5000 J
    return {
        "unit": acc.unit,
        "periods": out,
        "neg_net": list(neg.net()),
        "neg_export": [neg.wh(1), neg.remainder(1)],
        "neg_import": [neg.wh(0), neg.remainder(0)],
    }


def _load(rng, hour, phases, p, cmax, tick_s):
    """Counts [ai, ae, ri, re] of phase p for one window of the synthetic day."""
    c = cmax * tick_s
    h = hour % 24
    if h < 6:  # night: low load, just above creep
        return [rng.below(4), 0, rng.below(3), 0]
    if h < 10:  # morning: heavy import, inductive
        return [c // 2 + rng.below(c // 2), 0, rng.below(c // 3), 0]
    if h < 15:  # midday: PV export on L1, import elsewhere, capacitive
        if p == 0:
            return [0, c // 3 + rng.below(c // 2), 0, rng.below(c // 5)]
        return [rng.below(c // 4), 0, 0, rng.below(c // 6)]
    if h < 17:  # nobody home, nothing on
        return [0, 0, 0, 0]
    if h < 21:  # evening: heavy import, capacitive (LED drivers)
        return [c // 3 + rng.below(c // 2 + 1), 0, 0, rng.below(c // 4)]
    if h < 23:  # phase loss on L2 (or the only phase on a 1-phase meter)
        if p == 1 % phases:
            return [0, 0, 0, 0]
        return [rng.below(c // 2), 0, rng.below(c // 8), 0]
    # import and export inside one window (a cloud passing), reactive both ways
    return [rng.below(c // 4), rng.below(c // 4), rng.below(c // 8), rng.below(c // 8)]


def run_days(phases, count_uwh, seed, days, tick_s, cmax, group=1):
    """Synthetic run of varied load: per `group` half hours, the profile's Wh sums and counts."""
    count_uwh = _ratio(count_uwh)
    acc = Accumulator(phases, count_uwh)
    rng = _Lcg(seed)
    n4 = 4 * phases
    counts = array("l", [0] * n4)
    ticks_per_hh = 1800 // tick_s
    n_periods = days * 48
    hh_wh = []  # per period, per slot: sum of delta_wh
    hh_counts = []  # per period, per phase-quadrant: raw counts delivered
    sum_fine = [0] * acc.n_slots
    bad = 0
    for k in range(n_periods):
        if k % group == 0:
            pw = [0] * acc.n_slots
            pc = [0] * n4
            hh_wh.append(pw)
            hh_counts.append(pc)
        hour = (k * 1800) // 3600
        for j in range(ticks_per_hh):
            for p in range(phases):
                q4 = _load(rng, hour, phases, p, cmax, tick_s)
                for q in range(4):
                    counts[4 * p + q] = q4[q]
            # Now and then a window that could not be verified: nothing registers.
            ok = (k * ticks_per_hh + j) % 9973 != 17
            acc.on_tick(counts, ok)
            if ok:
                for i in range(n4):
                    pc[i] += counts[i]
            else:
                bad += 1
            for s in range(acc.n_slots):
                pw[s] += acc.delta_wh[s]
                sum_fine[s] += acc.delta_fine[s]
    return {
        "unit": acc.unit,
        "regs": _regs(acc),
        "hh_wh": hh_wh,
        "hh_counts": hh_counts,
        "sum_fine": sum_fine,
        "errors": acc.errors,
        "bad": bad,
        "net_total": list(acc.net()),
        "net_reactive": list(acc.net(None, True)),
    }


def _parts(fine, unit):
    wh, rem = fine // unit, fine % unit
    return (wh // 1000) % KWH_WRAP, wh % 1000, rem


def _payload(acc, slot_fines, errors=0):
    """A payload built by hand from the documented layout (checks the layout too)."""
    import struct

    buf = bytearray(acc.payload_size)
    struct.pack_into("<BBHII", buf, 0, 1, acc.phases, 0, acc.unit, errors)
    for s in range(acc.n_slots):
        k, w, r = _parts(slot_fines[s], acc.unit)
        struct.pack_into("<IHI", buf, 12 + 10 * s, k, w, r)
    return buf


def _near_limit_fines(acc, back_fine):
    span = KWH_WRAP * 1000 * acc.unit
    fines = [span - back_fine] * acc.n_slots
    if acc.phases > 1:
        for q in range(4):
            fines[acc.total_base + q] = (acc.phases * (span - back_fine)) % span
    return fines


def heap(phases, count_uwh, max_counts, near_limit, n_ticks):
    """on_tick and pack_into under heap_lock, and bytes allocated with the GC off."""
    count_uwh = _ratio(count_uwh)
    acc = Accumulator(phases, count_uwh, max_counts)
    start = [0] * acc.n_slots
    if near_limit:
        start = _near_limit_fines(acc, 7 * acc.unit + 3)  # 7 Wh and 3 fine units from 10**12 Wh
        acc.unpack_from(_payload(acc, start), 0)
    counts = array("l", [max_counts] * (4 * phases))
    buf = bytearray(acc.payload_size + 5)
    locked_ok = True
    micropython.heap_lock()
    try:
        for _ in range(n_ticks):
            acc.on_tick(counts, True)
            acc.pack_into(buf, 5)
        acc.on_tick(counts, False)
        acc.pack_into(buf, 5)
    except MemoryError:
        locked_ok = False
    micropython.heap_unlock()
    alloc = _gc_bytes(acc, counts, buf)
    other = Accumulator(phases, count_uwh, max_counts)
    other.unpack_from(buf, 5)
    return {
        "locked_ok": locked_ok,
        "alloc": alloc,
        "unit": acc.unit,
        "start": start,
        "regs": _regs(acc),
        "parts": [list(acc.parts(s)) for s in range(acc.n_slots)],
        "roundtrip": _regs(other) == _regs(acc) and other.errors == acc.errors,
        "errors": acc.errors,
    }


def _gc_bytes(acc, counts, buf):
    """Heap bytes allocated by 200 ticks + packs with the collector off (MicroPython only).

    heap_lock alone does not see allocations the VM makes with a stack fallback; this does.
    """
    measure = hasattr(gc, "mem_alloc")  # CPython runs the same ticks, unmeasured
    gc.collect()
    gc.disable()
    try:
        a0 = gc.mem_alloc() if measure else 0
        for _ in range(200):
            acc.on_tick(counts, True)
            acc.pack_into(buf, 5)
        return (gc.mem_alloc() - a0) if measure else 0
    finally:
        gc.enable()


def payload_checks():
    """Round trip and every rejection of unpack_from."""
    import struct

    acc = Accumulator(3, ATM)
    counts = array("l", [320 * 1000 + 5, 7, 11, 13, 1, 2, 3, 4, 65535, 0, 9, 0])
    for _ in range(3):
        acc.on_tick(counts, True)
    acc.on_tick(counts, False)
    buf = bytearray(acc.payload_size)
    acc.pack_into(buf, 0)
    good = bytes(buf)
    other = Accumulator(3, ATM)
    other.unpack_from(good, 0)
    out = {
        "size": acc.payload_size,
        "size1": Accumulator(1, ADE).payload_size,
        "same": _regs(other) == _regs(acc),
        "errors": other.errors,
        "header": list(good[:12]),
    }

    def rejects(mutate, acc_ratio=ATM, phases=3):
        b = bytearray(good)
        mutate(b)
        target = Accumulator(phases, acc_ratio)
        before = _regs(target)
        try:
            target.unpack_from(b, 0)
        except ValueError:
            return _regs(target) == before  # rejected and nothing changed
        return False

    def set_byte(i, v):
        def m(b):
            b[i] = v

        return m

    def set_slot(s, k, w, r):
        def m(b):
            struct.pack_into("<IHI", b, 12 + 10 * s, k, w, r)

        return m

    k0, w0, r0 = acc.parts(0)
    out["rejects"] = [
        rejects(set_byte(0, 2)),  # version
        rejects(set_byte(1, 1)),  # phases
        rejects(lambda b: None, ADE),  # another count ratio
        rejects(set_slot(0, k0, 1000, r0)),  # wh out of range
        rejects(set_slot(0, k0, w0, 320)),  # remainder out of range
        rejects(set_slot(0, KWH_WRAP, w0, r0)),  # kWh out of range
        rejects(set_slot(0, k0, w0, (r0 + 1) % 320)),  # total no longer the sum of phases
        rejects(lambda b: struct.pack_into("<I", b, 8, 0x40000000)),  # error count
    ]
    fresh = Accumulator(3, ATM)
    fresh.on_tick(counts, True)
    fresh.on_tick(counts, False)
    fresh.unpack_from(bytearray(fresh.payload_size + 2), 2)
    out["fresh"] = [fresh.fine(s) for s in range(fresh.n_slots)] + [fresh.errors]
    short = Accumulator(3, ATM)
    try:
        short.unpack_from(good[:-1], 0)
        out["short"] = False
    except ValueError:
        out["short"] = True
    return out


def bad_windows():
    """Unverified or impossible windows register nothing and count one error each."""
    acc = Accumulator(3, ATM, max_counts=0xFFFF)
    acc.on_tick(array("l", [640] * 12), True)
    before = _regs(acc)
    seen = []
    for counts, ok in (
        ([640] * 12, False),
        ([640] * 11 + [-1], True),
        ([640] * 11 + [0x10000], True),
    ):
        r = acc.on_tick(array("l", counts), ok)
        seen.append([r, acc.last_ok, acc.errors, list(acc.delta_wh), list(acc.delta_fine)])
    unchanged = _regs(acc) == before
    r = acc.on_tick(array("l", [0xFFFF] * 12), True)
    return {
        "seen": seen,
        "unchanged": unchanged,
        "after": [r, acc.last_ok, acc.errors, _regs(acc)],
    }


def independence():
    """Export never moves import and vice versa; totals = phases; net is only derived."""
    acc = Accumulator(3, ADE)
    acc.on_tick(array("l", [24000, 0, 0, 0, 0, 48000, 0, 0, 0, 0, 12000, 36000]), True)
    acc.on_tick(array("l", [0, 24000, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), True)
    return {
        "regs": _regs(acc),
        "net": [list(acc.net(p)) for p in (0, 1, 2, None)],
        "net_reactive": [list(acc.net(p, True)) for p in (0, 1, 2, None)],
    }


def bad_args():
    out = []
    for args in (
        (2, ATM),
        (1, (0, 1)),
        (1, (1, 0)),
        (1, (-3, 1)),
        (1, (1.5, 1)),
        (3, (1, 3000)),  # unit * (num_r + 1) >= 2**30
        (3, ATM, 0),
        (3, (7, 1), 0x3FFFFFF),  # phases * max_counts * num_r >= 2**30
    ):
        try:
            Accumulator(*args)
            out.append(False)
        except ValueError:
            out.append(True)
    acc = Accumulator(1, ATM)
    for bad in ((1, 0), (0, 4), (None, -1)):
        try:
            acc.slot(*bad)
            out.append(False)
        except ValueError:
            out.append(True)
    return out


# ---- creep gate -------------------------------------------------------------------------
def _figs(phases, v_mv, i_ma):
    f = array("l", [0] * (FIGS_PER_PHASE * phases))
    for p in range(phases):
        f[p * FIGS_PER_PHASE + FIG_V_MV] = v_mv[p]
        f[p * FIGS_PER_PHASE + FIG_I_MA] = i_ma[p]
    return f


def creep_edges():
    gate = CreepGate(3)
    acc = Accumulator(3, ADE)
    out = {"start_ma": gate.start_ma, "threshold_ma": gate.threshold_ma, "steps": []}
    for i_ma in ([15, 14, 0], [20, 15, 14], [0, 0, 0], [100, 16, 15]):
        counts = array("l", [30, 1, 2, 3] * 3)
        mask = gate.apply(counts, _figs(3, [264_500] * 3, i_ma))
        acc.on_tick(counts, True)
        out["steps"].append([mask, list(counts)])
    out["regs"] = [acc.fine(s) for s in range(acc.n_slots)]
    out["gated_ticks"] = list(gate.gated_ticks)
    out["discarded"] = list(gate.discarded)
    custom = CreepGate(1, ib_ma=10_000, itr_ma=250, margin_pct=100)
    out["custom"] = [custom.start_ma, custom.threshold_ma]
    bad = []
    for kw in (
        {"phases": 2},
        {"phases": 1, "threshold_ma": 0},
        {"phases": 1, "threshold_ma": 21},
        {"phases": 1, "margin_pct": 0},
        {"phases": 1, "ib_ma": 0},
    ):
        try:
            CreepGate(**kw)
            bad.append(False)
        except ValueError:
            bad.append(True)
    out["bad"] = bad
    return out


def no_load_day(phases, count_uwh, seed):
    """T7 no-load: 1.15 Un, no load, current noise below the threshold, offset creep counts."""
    count_uwh = _ratio(count_uwh)
    gate = CreepGate(phases)
    acc = Accumulator(phases, count_uwh)
    rng = _Lcg(seed)
    counts = array("l", [0] * (4 * phases))
    figs = _figs(phases, [264_500] * phases, [0] * phases)
    delivered = [0] * (4 * phases)
    for _ in range(86_400):
        for p in range(phases):
            figs[p * FIGS_PER_PHASE + FIG_I_MA] = rng.below(gate.threshold_ma)
            for q in range(4):
                c = rng.below(4)
                counts[4 * p + q] = c
                delivered[4 * p + q] += c
        gate.apply(counts, figs)
        acc.on_tick(counts, True)
    return {
        "fine": [acc.fine(s) for s in range(acc.n_slots)],
        "discarded": list(gate.discarded),
        "delivered": delivered,
        "gated_ticks": list(gate.gated_ticks),
    }


def start_current_hour(count_uwh, i_ma):
    """T7 start: a 1-phase meter at i_ma, 230 V, PF 1 for an hour; counts from an ideal AFE."""
    count_uwh = _ratio(count_uwh)
    gate = CreepGate(1)
    acc = Accumulator(1, count_uwh)
    counts = array("l", [0, 0, 0, 0])
    figs = _figs(1, [230_000], [i_ma])
    prev = 0
    delivered = 0
    first = None
    for t in range(1, 3601):
        c = _ideal_counts(t, 230 * i_ma, 1000, count_uwh)  # P = 230 V x i_ma mA
        counts[0] = c - prev
        prev = c
        delivered += counts[0]
        gate.apply(counts, figs)
        acc.on_tick(counts, True)
        if first is None and acc.delta_wh[0]:
            first = t
    return {
        "delivered": delivered,
        "wh": acc.wh(0),
        "rem": acc.remainder(0),
        "unit": acc.unit,
        "first_wh_tick": first,
        "discarded": gate.discarded[0],
    }


def creep_heap():
    gate = CreepGate(3)
    counts = array("l", [5] * 12)
    figs = _figs(3, [230_000] * 3, [3, 50, 0])
    ok = True
    micropython.heap_lock()
    try:
        for _ in range(500):
            for i in range(12):
                counts[i] = 5
            gate.apply(counts, figs)
    except MemoryError:
        ok = False
    micropython.heap_unlock()
    return [ok, list(gate.discarded), list(gate.gated_ticks)]


# ---- monitor ----------------------------------------------------------------------------
class _Sink:
    """Event sink that records into preallocated arrays (so it allocates nothing itself)."""

    def __init__(self, size=64):
        self.rows = array("l", [0] * (4 * size))
        self.n = 0

    def __call__(self, log_id, code, value, now):
        i = 4 * self.n
        self.rows[i] = log_id
        self.rows[i + 1] = code
        self.rows[i + 2] = value
        self.rows[i + 3] = -1 if now is None else now
        self.n += 1

    def events(self):
        r = self.rows
        return [[r[4 * i], r[4 * i + 1], r[4 * i + 2], r[4 * i + 3]] for i in range(self.n)]


def _drive(mon, phases, plan, t0=1000):
    """plan: list of (n_windows, v_mv per phase, counts per phase-quadrant, ok, clock_valid)."""
    counts = array("l", [0] * (4 * phases))
    figs = _figs(phases, [0] * phases, [0] * phases)
    t = 0
    for n, volts, c, ok, valid in plan:
        for p in range(phases):
            figs[p * FIGS_PER_PHASE + FIG_V_MV] = volts[p]
        for i in range(4 * phases):
            counts[i] = c[i]
        for _ in range(n):
            mon.on_tick(counts, ok, figs, (t0 + t) if valid else None)
            t += 1
    return t


def phase_failure_3p():
    sink = _Sink()
    mon = Monitor(3, ATM, sink)
    un = 230_000
    imp = [100, 0, 10, 0] * 3
    plan = [
        (10, [un, un, un], imp, True, True),  # t 0..9 healthy
        (100, [un, 0, un], imp, True, True),  # t 10..109 L2 lost
        (90, [un, un, un], imp, True, True),  # t 110..199 back (confirmed at 112)
        (2, [100_000, un, un], imp, True, True),  # t 200..201 a 2-window dip on L1: nothing
        (3, [un, un, un], imp, True, True),  # t 202..204
        (1, [0, un, un], imp, True, True),  # t 205 L1 goes
        (1, [0, 0, un], imp, True, True),  # t 206 L2 goes
        (50, [0, 0, 0], imp, True, True),  # t 207..256 L3 goes: total outage
        (50, [0, 0, 0], imp, False, True),  # t 257..306 AFE unreadable: time still counts
        (198, [0, 0, 0], imp, True, False),  # t 307..504 clock invalid
        (3, [un, 0, 0], imp, True, False),  # t 505..507 L1 back, confirmed with no valid time
        (1, [un, 137_999, 0], imp, True, True),  # t 508 L2 just below the restore level
        (1, [un, 138_000, 0], imp, True, True),  # t 509 L2 at exactly 60 % Un
        (1, [un, un, un], imp, True, True),  # t 510
        (1, [un, un, un], imp, True, True),  # t 511 L2 confirmed
        (1, [un, un, un], imp, True, True),  # t 512 L3 confirmed
        (3, [un, un, un], imp, True, True),  # t 513..515
        (2, [un, 114_999, un], imp, True, True),  # t 516..517 L2 below 50 %: pending
        (1, [un, 115_000, un], imp, True, True),  # t 518 exactly 50 %: not a failure
        (3, [un, un, un], imp, True, True),  # t 519..521
    ]
    n = _drive(mon, 3, plan)
    return {
        "events": sink.events(),
        "windows": n,
        "failed": list(mon.failed),
        "all_failed": mon.all_failed,
        "outage_start": [(-1 if x is None else x) for x in mon.outage_start],
        "outage_end": [(-1 if x is None else x) for x in mon.outage_end],
    }


def phase_failure_1p():
    sink = _Sink()
    mon = Monitor(1, ADE, sink, debounce_ms=2500)  # rounds up to 3 windows
    un = 230_000
    z = [0, 0, 0, 0]
    plan = [
        (5, [un], z, True, True),
        (179, [0], z, True, True),  # 179 s outage: short
        (3, [un], z, True, True),
        (180, [50_000], z, True, True),  # 180 s: long
        (4, [un], z, True, True),
    ]
    _drive(mon, 1, plan)
    return sink.events()


def reverse_1p():
    """Virtual ADE7953: trip energy 2 Wh = 48 000 fine units, leak 33 1/3 per 1 s window."""
    sink = _Sink()
    mon = Monitor(1, ADE, sink)
    un = [230_000]
    plan = [
        (20, un, [3333, 0, 0, 0], True, True),  # t 0..19 import 500 W
        (10_000, un, [0, 30, 0, 0], True, True),  # t 20..10019 export 4.5 W: below the leak
        (5, un, [0, 3333, 0, 0], False, True),  # unverified windows are ignored
        (14, un, [0, 3333, 0, 0], True, True),  # 500 W export: 14 windows are not enough
        (1, un, [0, 3333, 0, 0], True, True),  # the 15th trips (t 10039)
        (30, un, [10, 0, 0, 0], True, True),  # import: quiet 30 windows
        (1, un, [0, 1, 0, 0], True, True),  # one count of export restarts the quiet time
        (59, un, [10, 0, 0, 0], True, True),
        (1, un, [10, 0, 0, 0], True, True),  # 60th quiet window: off (t 10130)
        (7_200, un, [0, 40, 0, 0], True, True),  # 6 W: trips after exactly 7 200 windows
    ]
    n = _drive(mon, 1, plan)
    return {"events": sink.events(), "windows": n, "reverse": list(mon.reverse)}


def reverse_3p(export_mask):
    """L2's CT reversed and L3 exporting while L1 imports, then export stops (10 s clear)."""
    sink = _Sink()
    mon = Monitor(3, ATM, sink, export_mask=export_mask, reverse_clear_ms=10_000)
    un = [230_000] * 3
    # ATM: 2 Wh = 640 fine units; leak 5 W x 1 s = 0.444 counts per window.
    plan = [
        (10, un, [100, 0, 0, 0, 0, 100, 0, 0, 0, 100, 0, 0], True, True),
        (20, un, [100, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0], True, True),
    ]
    n = _drive(mon, 3, plan)
    return {"events": sink.events(), "windows": n, "reverse": list(mon.reverse)}


def monitor_heap():
    """Steady ticks and transitions (with a non-allocating sink) under heap_lock."""
    sink = _Sink()
    mon = Monitor(3, ATM, sink, reverse_clear_ms=3000)
    counts = array("l", [0] * 12)
    figs = _figs(3, [230_000] * 3, [1000] * 3)
    ok = True
    micropython.heap_lock()
    try:
        for t in range(300):
            lost = 100 <= t < 200
            figs[FIG_V_MV] = 0 if lost else 230_000
            figs[FIGS_PER_PHASE + FIG_V_MV] = 0 if 150 <= t < 250 else 230_000
            figs[2 * FIGS_PER_PHASE + FIG_V_MV] = 0 if 120 <= t < 220 else 230_000
            counts[1] = 500 if 20 <= t < 40 else 0
            counts[0] = 0 if 20 <= t < 40 else 500
            mon.on_tick(counts, True, figs, t if t < 260 else None)
    except MemoryError:
        ok = False
    micropython.heap_unlock()
    return {"ok": ok, "events": sink.events()}


def monitor_bad_args():
    out = []
    for kw in (
        {"phases": 2},
        {"phases": 1, "fail_pct": 70, "restore_pct": 60},
        {"phases": 1, "tick_ms": 0},
        {"phases": 1, "reverse_wh": 0},
        {"phases": 1, "count_uwh": (0, 1)},
    ):
        args = {"phases": 1, "count_uwh": ATM, "events": None}
        args.update(kw)
        try:
            Monitor(**args)
            out.append(False)
        except ValueError:
            out.append(True)
    return out


def code_table():
    from firmware.monitor import interrupted_code, restored_code

    return {
        "interrupted": [interrupted_code(i) for i in range(4)],
        "short": [restored_code(i, 179) for i in range(4)],
        "long": [restored_code(i, 180) for i in range(4)],
        "logs": [codes.REVERSE_LOG, codes.PHASE_FAILURE_LOG],
    }
