"""firmware/energy.py and firmware/creep.py: exact registers, carry, persistence, creep gate.

Expected values are computed here independently of the firmware's reduced fine unit: with
Python big ints and Fractions straight from the counts and count_uwh = (num, den) uWh.
"""

from fractions import Fraction

import pytest

from mpy import run_scenario

ATM = (3125, 1)
ADE = (125, 3)


def exact_wh(total_counts, count_uwh):
    """(whole Wh, sub-Wh fraction of a Wh) of total_counts counts, exactly."""
    num, den = count_uwh
    e = Fraction(total_counts * num, den * 10**6)
    wh = e.numerator // e.denominator
    return wh, e - wh


def assert_register(reg, unit, total_counts, count_uwh):
    wh, frac = exact_wh(total_counts, count_uwh)
    assert reg[0] == wh
    assert Fraction(reg[1], unit) == frac


# ---- exactness vectors -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ratio", "unit", "counts"), [(ATM, 320, 320_000), (ADE, 24_000, 24_000_000)]
)
def test_d4_tasmota_vector_is_exact(interp, ratio, unit, counts):
    # chips.md §8.2 D4: 1000 W for 3600 one-second ticks. Tasmota's float carry gives 99 997 x
    # 10^-5 kWh; the integer accumulator must give exactly 100 000 with nothing left over.
    r = run_scenario(interp, "sc_energy", "d4", list(ratio))
    assert r == {
        "unit": unit,
        "counts": counts,
        "wh": 1000,
        "rem": 0,
        "tasmota_units": 100_000,
    }


def test_a3_320_counts_at_mc3200_are_one_wh(interp):
    # chips.md §8.1 A3; the fine unit of the ATM90E32 at MC 3200 is one count = 1/320 Wh.
    assert run_scenario(interp, "sc_energy", "a3") == [1, 0, 1, 320, 320]


def test_residual_carry_table(interp):
    # chips.md §8.3, P = 1234.5 W, T = 9.8 s; one count = 0.1 J, so the remainder is in 0.1 J.
    r = run_scenario(interp, "sc_energy", "carry_table")
    assert r["unit"] == 36_000  # 0.1 J per fine unit
    assert r["periods"] == [
        [3, 12_981, 3, [3, 12_981]],  # 12 098.1 J -> +3 Wh, residual 1298.1 J
        [6, 25_962, 3, [6, 25_962]],  # 13 396.2 J -> +3 Wh, residual 2596.2 J
        [10, 2_943, 4, [10, 2_943]],  # 14 694.3 J -> +4 Wh, residual 294.3 J
    ]
    # -500 W for 10 s: net Wh -1, residual -1400 J (toward zero, not -2 as // would give);
    # the settlement registers stay separate and non-negative.
    assert r["neg_net"] == [-1, -14_000]
    assert r["neg_export"] == [1, 14_000]
    assert r["neg_import"] == [0, 0]


# ---- synthetic runs ---------------------------------------------------------------------------
def check_run(r, phases, ratio, n_buckets, bad):
    unit = r["unit"]
    n4 = 4 * phases
    totals = [sum(b[i] for b in r["hh_counts"]) for i in range(n4)]
    assert len(r["hh_wh"]) == n_buckets
    # Phase registers, then totals: the exact conversion of every count delivered, to the unit.
    slot_counts = list(totals)
    if phases > 1:
        slot_counts += [sum(totals[4 * p + q] for p in range(phases)) for q in range(4)]
    for s, c in enumerate(slot_counts):
        assert_register(r["regs"][s], unit, c, ratio)
        assert Fraction(r["sum_fine"][s], unit) == Fraction(c * ratio[0], ratio[1] * 10**6)
    # Every quadrant saw energy (the run is not trivially zero somewhere).
    assert all(c > 0 for c in slot_counts[:4])
    # Profile: each bucket's Wh = the floor difference of cumulative counts at its boundaries,
    # and the buckets sum to the register.
    cum = [0] * len(slot_counts)
    for b in range(n_buckets):
        bc = r["hh_counts"][b]
        for s in range(len(slot_counts)):
            if s < n4:
                add = bc[s]
            else:
                add = sum(bc[4 * p + (s - n4)] for p in range(phases))
            before = exact_wh(cum[s], ratio)[0]
            cum[s] += add
            assert r["hh_wh"][b][s] == exact_wh(cum[s], ratio)[0] - before
    for s in range(len(slot_counts)):
        assert sum(b[s] for b in r["hh_wh"]) == r["regs"][s][0]
    assert r["errors"] == bad == r["bad"]
    # Net (not for settlement): import - export, truncated toward zero with a signed remainder.
    for key, qi in (("net_total", 0), ("net_reactive", 2)):
        ti = sum(totals[4 * p + qi] for p in range(phases))
        te = sum(totals[4 * p + qi + 1] for p in range(phases))
        n = Fraction((ti - te) * ratio[0], ratio[1] * 10**6)
        whole = int(n)  # int() truncates toward zero
        assert r[key][0] == whole
        assert Fraction(r[key][1], unit) == n - whole


def bad_windows(n_ticks):
    return sum(1 for i in range(n_ticks) if i % 9973 == 17)


@pytest.mark.parametrize(
    ("phases", "ratio", "cmax"), [(3, ATM, 900), (1, ADE, 70_000), (3, (1000, 36), 100_000)]
)
def test_one_day_of_varied_load_is_exact(interp, phases, ratio, cmax):
    r = run_scenario(interp, "sc_energy", "run_days", phases, list(ratio), 7, 1, 1, cmax)
    check_run(r, phases, ratio, 48, bad_windows(86_400))


def test_thirty_days_of_varied_load_is_exact():
    # 30 days of 10 s windows (CPython: the MicroPython run of the same code is the 1-day test).
    r = run_scenario("cpython", "sc_energy", "run_days", 3, list(ATM), 11, 30, 10, 900, 48)
    check_run(r, 3, ATM, 30, bad_windows(30 * 8640))
    # Lifetime-scale registers: well past what a single small int of fine units could hold.
    assert r["regs"][12][0] > 2**30 // 320


# ---- no allocation, limits, persistence ---------------------------------------------------------
@pytest.mark.parametrize(
    ("phases", "ratio", "max_counts"), [(3, ATM, 0xFFFF), (1, ADE, 0xFFFFFF), (3, ADE, 0xFFFFFF)]
)
@pytest.mark.parametrize("near_limit", [False, True])
def test_tick_and_pack_allocate_nothing(interp, phases, ratio, max_counts, near_limit):
    r = run_scenario(interp, "sc_energy", "heap", phases, list(ratio), max_counts, near_limit, 50)
    assert r["locked_ok"] is True
    assert r["alloc"] == 0
    assert r["roundtrip"] is True
    assert r["errors"] == 1
    unit = r["unit"]
    span = 10**12 * unit  # the registers roll over at 10**9 kWh
    ticks = 250  # 50 under heap_lock + 200 measured; the unverified window adds nothing
    for s, (reg, parts, start) in enumerate(zip(r["regs"], r["parts"], r["start"])):
        per_tick = max_counts * (phases if (phases > 1 and s >= 4 * phases) else 1)
        fine = (start + ticks * per_tick * ratio[0] * unit // (ratio[1] * 10**6)) % span
        assert reg == [fine // unit, fine % unit]
        # Every part a small int on a 32-bit port.
        assert parts == [fine // unit // 1000, fine // unit % 1000, fine % unit]
        assert all(0 <= x < 2**30 for x in parts)


def test_payload_layout_and_rejections(interp):
    r = run_scenario(interp, "sc_energy", "payload_checks")
    assert r["size"] == 12 + 10 * 16
    assert r["size1"] == 12 + 10 * 4
    assert r["same"] is True
    assert r["errors"] == 1
    # version 1, 3 phases, reserved, unit 320 (LE u32), 1 functionality error (LE u32)
    assert r["header"] == [1, 3, 0, 0, 64, 1, 0, 0, 1, 0, 0, 0]
    assert r["rejects"] == [True] * 8
    assert r["short"] is True
    # An all-zero payload (store.initial_registers after a format) loads as zero registers.
    assert r["fresh"] == [0] * 17


def test_unverified_or_impossible_windows_register_nothing(interp):
    r = run_scenario(interp, "sc_energy", "bad_windows")
    zeros = [0] * 16
    assert r["seen"] == [
        [False, False, 1, zeros, zeros],  # ok False
        [False, False, 2, zeros, zeros],  # a negative count
        [False, False, 3, zeros, zeros],  # above max_counts (0xFFFF)
    ]
    assert r["unchanged"] is True
    # Next good window: 640 + 65535 counts per phase slot, 3x that on the totals.
    ph = 640 + 65_535
    assert r["after"][:3] == [True, True, 3]
    assert r["after"][3] == [[ph // 320, ph % 320]] * 12 + [[3 * ph // 320, 3 * ph % 320]] * 4


def test_import_export_independent_and_net_derived(interp):
    r = run_scenario(interp, "sc_energy", "independence")
    u = 24_000  # ADE: one count = 1/24000 Wh
    assert r["regs"] == [
        [1, 0], [1, 0], [0, 0], [0, 0],  # L1: 1 Wh import, then 1 Wh export (not netted)
        [0, 0], [2, 0], [0, 0], [0, 0],  # L2: 2 Wh export
        [0, 0], [0, 0], [0, u // 2], [1, u // 2],  # L3: reactive only
        [1, 0], [3, 0], [0, u // 2], [1, u // 2],  # totals
    ]  # fmt: skip
    assert r["net"] == [[0, 0], [-2, 0], [0, 0], [-2, 0]]
    assert r["net_reactive"] == [[0, 0], [0, 0], [-1, 0], [-1, 0]]


def test_bad_arguments(interp):
    assert run_scenario(interp, "sc_energy", "bad_args") == [True] * 11


# ---- creep / starting current -------------------------------------------------------------------
def test_creep_gate_edges(interp):
    r = run_scenario(interp, "sc_energy", "creep_edges")
    # Ist = min(0.004 x 5 A, 0.04 x 0.5 A) = 20 mA; gate at 75 % = 15 mA.
    assert r["start_ma"] == 20
    assert r["threshold_ma"] == 15
    w = [30, 1, 2, 3]
    z = [0, 0, 0, 0]
    # A window is gated only if the current was below 15 mA at both its ends (this window's
    # end and the previous one's); the gate starts as if the previous window ended at 0 A.
    assert r["steps"] == [
        [0b110, w + z + z],  # 15 mA registers (exactly the threshold), 14 and 0 do not
        [0b100, w + w + z],  # 20 mA (Ist) and 15 mA register
        [0b100, w + w + z],  # all end at 0 A, but L1 and L2 began with current: real energy
        [0b000, w + w + w],
    ]
    assert r["regs"] == [120, 4, 8, 12, 90, 3, 6, 9, 30, 1, 2, 3, 240, 8, 16, 24]
    assert r["gated_ticks"] == [0, 1, 3]
    assert r["discarded"] == [0, 0, 0, 0, 30, 1, 2, 3, 90, 3, 6, 9]
    # Ib 10 A -> 40 mA, Itr 0.25 A -> 10 mA: the stricter wins; margin 100 % = Ist itself.
    assert r["custom"] == [10, 10]
    assert r["bad"] == [True] * 5


@pytest.mark.parametrize(("phases", "ratio"), [(1, ADE), (3, ADE), (3, ATM)])
def test_no_load_day_registers_nothing(interp, phases, ratio):
    # T7: 24 h at 1.15 Un with current noise below the threshold and offset creep counts on
    # every quadrant: zero increments (the standard allows one pulse), every count accounted for.
    r = run_scenario(interp, "sc_energy", "no_load_day", phases, list(ratio), 5)
    assert r["fine"] == [0] * (4 if phases == 1 else 16)
    assert r["discarded"] == r["delivered"]
    assert all(d > 80_000 for d in r["delivered"])  # ~1.5 counts per window were offered
    assert r["gated_ticks"] == [86_400] * phases


@pytest.mark.parametrize(
    ("ratio", "i_ma", "first"),
    [(ADE, 20, 783), (ATM, 20, 783), (ATM, 15, 1044)],
)
def test_starting_current_registers(interp, ratio, i_ma, first):
    # T7 start: at Ist (20 mA, 230 V: 4.6 W) and at the gate threshold (15 mA) every count of
    # an hour registers: 4.6 Wh / 3.45 Wh exactly, the first whole Wh at 3600 / 4.6 s etc.
    r = run_scenario(interp, "sc_energy", "start_current_hour", list(ratio), i_ma)
    delivered = Fraction(230 * i_ma * 3600, 1000 * 3600) * 10**6 * ratio[1] / ratio[0]
    assert r["delivered"] == int(delivered)
    assert r["discarded"] == 0
    assert_register([r["wh"], r["rem"]], r["unit"], r["delivered"], ratio)
    assert r["first_wh_tick"] == first


def test_below_threshold_registers_nothing(interp):
    r = run_scenario(interp, "sc_energy", "start_current_hour", list(ATM), 14)
    assert r["wh"] == 0
    assert r["rem"] == 0
    assert r["discarded"] == r["delivered"] == 1030  # 3.22 Wh offered, all treated as creep
    assert r["first_wh_tick"] is None


def test_creep_gate_allocates_nothing(interp):
    ok, discarded, gated = run_scenario(interp, "sc_energy", "creep_heap")
    assert ok is True
    assert discarded == [2500] * 4 + [0] * 4 + [2500] * 4
    assert gated == [500, 0, 500]
