"""Property tests (CPython, hypothesis) for firmware/energy.py and firmware/monitor.py.

The invariants, against an independent big-int/Fraction model of the counts:
registers == floor(total_counts * num / den / 10**6) Wh with the exact residue carried;
registers never decrease; import and export never touch each other; the per-tick deltas sum
to the register deltas; a payload round trip is the identity; every stored part is a small
int on a 32-bit port. For the monitor: export below the minimum power never trips it, and the
phase-failure events of each phase strictly alternate on/off, each after the debounce time.
"""

from array import array
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.energy import KWH_WRAP, Accumulator, fine_ratio
from firmware.monitor import FIG_V_MV, FIGS_PER_PHASE, Monitor

RATIOS = [(3125, 1), (125, 3), (1000, 36), (10_000, 1), (1, 1), (7, 3), (333, 7), (12_289, 997)]


def exact(total, ratio):
    e = Fraction(total * ratio[0], ratio[1] * 10**6)
    wh = e.numerator // e.denominator
    return wh, e - wh


@st.composite
def runs(draw):
    phases = draw(st.sampled_from([1, 3]))
    ratio = draw(st.sampled_from(RATIOS) | st.tuples(st.integers(1, 10**5), st.integers(1, 999)))
    max_counts = draw(st.sampled_from([0xFFFF, 0xFFFFFF]))
    # A window's counts scale with its length (1 s .. 60 s) and the load on each quadrant.
    ticks = draw(
        st.lists(
            st.tuples(
                st.integers(1, 60),
                st.lists(st.integers(0, 0xFFFF * 4), min_size=4 * phases, max_size=4 * phases),
                st.booleans() | st.just(True),
            ),
            max_size=40,
        )
    )
    windows = []
    for length, rates, ok in ticks:
        windows.append(([min(max_counts, r * length // 60) for r in rates], ok))
    start = draw(st.sampled_from([0, 1, -1]))
    return phases, ratio, max_counts, windows, start


def _accumulator(phases, ratio, max_counts):
    try:
        return Accumulator(phases, ratio, max_counts)
    except ValueError:
        num_r, unit = fine_ratio(ratio)
        # Only ratios too fine for small-int arithmetic are refused.
        assert phases * max_counts * num_r >= 2**30 or unit * (num_r + 1) >= 2**30
        return None


def _preload(acc, where):
    """Start at zero, mid-life, or a few Wh below the 10**9 kWh roll-over."""
    if where == 0:
        return [0] * acc.n_slots
    span = KWH_WRAP * 1000 * acc.unit
    base = 123_456_789_012 * acc.unit + acc.unit // 3 if where == 1 else span - 5 * acc.unit - 1
    fines = [base] * acc.n_slots
    if acc.phases > 1:
        for q in range(4):
            fines[acc.total_base + q] = (acc.phases * base) % span
    import struct

    buf = bytearray(acc.payload_size)
    struct.pack_into("<BBHII", buf, 0, 1, acc.phases, 0, acc.unit, 0)
    for s, f in enumerate(fines):
        wh, rem = divmod(f, acc.unit)
        struct.pack_into("<IHI", buf, 12 + 10 * s, (wh // 1000) % KWH_WRAP, wh % 1000, rem)
    acc.unpack_from(buf, 0)
    return fines


@settings(max_examples=300, deadline=None)
@given(runs())
def test_registers_equal_exact_conversion(run):
    phases, ratio, max_counts, windows, where = run
    acc = _accumulator(phases, ratio, max_counts)
    if acc is None:
        return
    start = _preload(acc, where)
    span = KWH_WRAP * 1000 * acc.unit
    n4 = 4 * phases
    totals = [0] * acc.n_slots
    sum_wh = [0] * acc.n_slots
    sum_fine = [0] * acc.n_slots
    prev = [acc.fine(s) for s in range(acc.n_slots)]
    for counts, ok in windows:
        registered = acc.on_tick(array("l", counts), ok)
        assert registered is ok
        for s in range(acc.n_slots):
            if ok:
                c = counts[s] if s < n4 else sum(counts[4 * p + s - n4] for p in range(phases))
                totals[s] += c
            sum_wh[s] += acc.delta_wh[s]
            sum_fine[s] += acc.delta_fine[s]
            now = acc.fine(s)
            # Monotonic (modulo the roll-over at 10**12 Wh).
            assert (now - prev[s]) % span == acc.delta_fine[s]
            prev[s] = now
            kwh, wh, rem = acc.parts(s)
            assert 0 <= kwh < KWH_WRAP and 0 <= wh < 1000 and 0 <= rem < acc.unit < 2**29
            assert 0 <= acc.delta_fine[s] < 2**30
    for s in range(acc.n_slots):
        # Register = start + the exact conversion of every registered count, to the fine unit.
        wh0, rem0 = divmod(start[s], acc.unit)
        added_wh, added_frac = exact(totals[s], ratio)
        expect = ((wh0 + added_wh) * acc.unit + rem0 + added_frac * acc.unit) % span
        assert acc.fine(s) == expect
        if where == 0:
            assert [acc.wh(s), Fraction(acc.remainder(s), acc.unit)] == [added_wh, added_frac]
        # The profile's sums: whole Wh and fine units both add up to the register delta.
        assert (acc.fine(s) - start[s]) % span == sum_fine[s] % span
        assert Fraction(sum_fine[s], acc.unit) == Fraction(totals[s] * ratio[0], ratio[1] * 10**6)
        assert sum_wh[s] == (start[s] % acc.unit + sum_fine[s]) // acc.unit
    assert acc.errors == sum(1 for _, ok in windows if not ok)
    # Round trip through the store payload.
    buf = bytearray(acc.payload_size + 3)
    acc.pack_into(buf, 3)
    other = Accumulator(phases, ratio, max_counts)
    other.unpack_from(buf, 3)
    assert [other.parts(s) for s in range(acc.n_slots)] == [
        acc.parts(s) for s in range(acc.n_slots)
    ]
    assert other.errors == acc.errors


@settings(max_examples=200, deadline=None)
@given(runs())
def test_import_and_export_are_independent(run):
    phases, ratio, max_counts, windows, _ = run
    both = _accumulator(phases, ratio, max_counts)
    if both is None:
        return
    only_import = Accumulator(phases, ratio, max_counts)
    only_export = Accumulator(phases, ratio, max_counts)
    for counts, ok in windows:
        both.on_tick(array("l", counts), ok)
        imp = [c if i % 4 != 1 else 0 for i, c in enumerate(counts)]
        exp = [c if i % 4 == 1 else 0 for i, c in enumerate(counts)]
        only_import.on_tick(array("l", imp), ok)
        only_export.on_tick(array("l", exp), ok)
    for p in list(range(phases)) + [None]:
        for q in range(4):
            s = both.slot(p, q)
            ref = only_export if q == 1 else only_import
            assert both.parts(s) == ref.parts(s)
        n_wh, n_rem = both.net(p)
        n = both.fine(both.slot(p, 0)) - both.fine(both.slot(p, 1))
        assert Fraction(n, both.unit) == n_wh + Fraction(n_rem, both.unit)
        assert abs(n_rem) < both.unit and (n_rem == 0 or (n_rem < 0) == (n < 0))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 33), st.integers(0, 5000)), max_size=3000),
    st.sampled_from([(125, 3), (3125, 1)]),
)
def test_export_below_minimum_power_never_trips(windows, ratio):
    # 5 W over a 1 s window: 33 1/3 counts on the virtual ADE7953, 0.44 on the ATM90E32.
    limit = 33 if ratio == (125, 3) else 0
    events = []
    mon = Monitor(1, ratio, lambda *e: events.append(e))
    counts = array("l", [0, 0, 0, 0])
    figs = array("l", [230_000] + [0] * (FIGS_PER_PHASE - 1))
    for exp, imp in windows:
        counts[0] = imp
        counts[1] = min(exp, limit)
        mon.on_tick(counts, True, figs, 0)
    assert events == []


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 8),
            st.lists(
                st.sampled_from([0, 114_999, 115_000, 137_999, 138_000, 230_000]),
                min_size=3,
                max_size=3,
            ),
        ),
        max_size=60,
    ),
    st.integers(1, 4),
)
def test_phase_failure_events_alternate_after_debounce(plan, deb):
    events = []
    mon = Monitor(3, (3125, 1), lambda *e: events.append(e), debounce_ms=deb * 1000)
    counts = array("l", [0] * 12)
    figs = array("l", [0] * (3 * FIGS_PER_PHASE))
    t = 0
    history = [[], [], []]
    for n, volts in plan:
        for p in range(3):
            figs[p * FIGS_PER_PHASE + FIG_V_MV] = volts[p]
        for _ in range(n):
            mon.on_tick(counts, True, figs, t)
            for p in range(3):
                history[p].append(volts[p])
            t += 1
    state = [False, False, False, False]  # L1..L3, total
    for _log, code, value, now in events:
        if code in (0x8F58, 0x8F59, 0x8F5A):
            p = code - 0x8F58
            assert not state[p]
            state[p] = True
            # Confirmed after exactly `deb` windows below 50 % Un.
            assert all(v < 115_000 for v in history[p][now - deb + 1 : now + 1])
            assert value == history[p][now]
        elif code == 0x8F57:
            assert not state[3] and all(state[:3])
            state[3] = True
        elif 0x8F37 <= code <= 0x8F3C:
            p = (code - 0x8F37) // 2
            assert state[p]
            state[p] = False
            assert all(v >= 138_000 for v in history[p][now - deb + 1 : now + 1])
            assert (code - 0x8F37) % 2 == (1 if value >= 180 else 0)
        else:
            assert code in (0x8F35, 0x8F36) and state[3]
            state[3] = False
    assert state[:3] == [bool(f) for f in mon.failed]
    assert state[3] == mon.all_failed
