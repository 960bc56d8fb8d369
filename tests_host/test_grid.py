"""hal/sim/grid.py: the ground-truth mains + load model (CPython and MicroPython)."""

import csv
import os
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from hal.sim import grid as G
from hal.sim.simtime import SimTime
from mpy import ROOT, run_scenario

KW = 1_000_000


def _csv_mwh(day):
    """Independent parse of the household file: mWh of each half hour of `day`."""
    path = os.path.join(ROOT, "data", "london-household-MAC000060-hh.csv")
    with open(path) as f:
        rows = list(csv.reader(f))[1:]
    return [int((Decimal(r[1]) * 1_000_000).to_integral_value()) for r in rows if r[0][:10] == day]


def test_one_day_of_profile_is_cheap_and_exact(interp):
    r = run_scenario(interp, "sc_afe", "grid_day_cost")
    assert r["cost_ms"] < 1000
    assert r["mwh"] == _csv_mwh("2012-06-01")
    # 48 half hours + 28 PV steps (+1 initial): integration is per segment, never per sample.
    assert r["segments"] == 77
    assert r["rows_read"] < 100  # a binary search and one line per half hour, not the file
    assert r["energy"] == [24019134300000, 55031823900000, 11897663400000, 0]


def test_profile_lookup_gaps_wrap_and_power_factor(interp):
    r = run_scenario(interp, "sc_afe", "grid_profile_lookup")
    # 2011-12-10 00:00.. : 0.082, 0.03, 0.057, 0.03 kWh per half hour -> mW = mWh x 2
    assert r["first"] == [164000, 60000, 114000, 60000]
    assert r["gap"] == 0  # 2012-10-18 is missing from the file: no load
    assert r["wrap"] == [478000, 164000]  # last row 0.239 kWh, then back to the first
    # PF 0.8: Q = P x 0.75 exactly; I = S / V = 205 VA / 230 V
    assert r["seg"] == [1800000, [230000, 891, 164000, 123000, 50000]]
    assert r["cap_q"] == -123000
    assert r["kwh"] == [1315000, 100000, 2036001]
    assert r["rows_read"] < 30


def test_quadrants_and_outage_exact_uj(interp):
    r = run_scenario(interp, "sc_afe", "grid_quadrants")
    # 10 min of 1 kW / 300 var import = 6e11 uJ / 1.8e11 uJ
    assert r[0][0] == [600000000000, 0, 180000000000, 0]
    assert r[0][1] == [230000, 8706, -2000000, -100000, 50000]  # the export step began
    assert r[0][3] == 900000000
    # + 5 min of 2 kW / 100 var export
    assert r[1][0] == [600000000000, 600000000000, 180000000000, 30000000000]
    assert r[1][1:] == [[0, 0, 0, 0, 0], False, 1200000000]
    assert r[2][0] == r[1][0]  # nothing flows in an outage
    assert r[3][1:] == [[230000, 2430, 500000, -250000, 50000], True, None]
    # last step: 500 W with Q = -P/2 for 10 min
    assert r[4][0] == [900000000000, 600000000000, 180000000000, 180000000000]


def test_sag_phase_loss_outage_swell_on_three_phases(interp):
    r = run_scenario(interp, "sc_afe", "grid_events_3ph")
    normal = [[230000, 4347, 1000000, 0, 50000], [230000, 8695, 2000000, 0, 50000],
              [230000, 13043, 3000000, 0, 50000]]  # fmt: skip
    assert r[0] == [normal, True, 1000000]
    assert r[1] == [[[184000, 5434, 1000000, 0, 50000], [184000, 10869, 2000000, 0, 50000],
                     [184000, 16304, 3000000, 0, 50000]], True, 2000000]  # fmt: skip
    assert r[2] == [normal[:2] + [[0, 0, 0, 0, 0]], True, 4000000]  # phase C lost: supply on
    assert r[3] == [[[0, 0, 0, 0, 0]] * 3, False, 6000000]
    assert r[4][0][1] == [253000, 7905, 2000000, 0, 50000]  # swell on phase B only
    assert r[5] == [normal, True, None]
    # 9 s: A 8 s of 1 kW (outage 1 s); B 2 kW x 8 s; C 3 kW x 7 s (phase loss + outage)
    assert r[6] == [[8000000000, 0, 0, 0], [16000000000, 0, 0, 0], [21000000000, 0, 0, 0]]


def test_pv_exports_by_day(interp):
    r = run_scenario(interp, "sc_afe", "grid_pv_day")
    p = r["p"]
    assert p[:6] == [300000] * 6 and p[20:] == [300000] * 4
    assert p[12] == p[13] == 300000 - 2984693  # 4x(1-x) at mid-steps, peak 3 kW
    assert all(v < 0 for v in p[6:20])
    assert p[6:13] == p[13:20][::-1]  # symmetric about noon
    assert r["energy"] == [10800000000000, 85937119200000, 0, 0]


def test_set_program_keeps_energy_and_tells_listeners(interp):
    r = run_scenario(interp, "sc_afe", "grid_set_program")
    assert r == [[1500000000, 500000000, 0, 0], [1500000], -1000000]


def test_isqrt_and_bad_programs():
    assert [G.isqrt(n) for n in (0, 1, 3, 4, 10**30, 10**30 - 1)] == [
        0, 1, 1, 2, 10**15, 10**15 - 1]  # fmt: skip
    t = SimTime()
    try:
        G.GridModel(t, 3, G.Constant(KW))
        raise AssertionError("phase mismatch accepted")
    except ValueError:
        pass


_steps = st.lists(
    st.tuples(
        st.integers(1, 10_000_000),
        st.integers(-5 * KW, 5 * KW),
        st.integers(-2 * KW, 2 * KW),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(_steps, st.integers(1, 999))
def test_energy_is_the_exact_integral(steps, probe_us):
    """Any sequence of constant steps: each quadrant is exactly sum(P x dt), however sampled."""
    prog = G.Sequence([(d, G.Constant(p, q)) for d, p, q in steps] + [(1, G.Constant(0))])
    t = SimTime()
    g = G.GridModel(t, 1, prog)
    total_ms = sum(d for d, _p, _q in steps)
    # sample at odd instants: lazy integration must not depend on when it is asked
    at = 0
    while at < total_ms * 1000:
        at = min(at + probe_us * 7919, total_ms * 1000)
        t.advance_to(at)
        g.energy_uj(0)
    want = [0, 0, 0, 0]
    for d, p, q in steps:
        want[0 if p > 0 else 1] += abs(p) * d
        want[2 if q > 0 else 3] += abs(q) * d
    assert list(g.energy_uj(0)) == want
