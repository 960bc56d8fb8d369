"""Calibrate the metering front end (firmware/calibration.py) on the virtual or a real board.

Virtual board (default). The board is built in-process (board/sim.py SimBoard: the same drivers
and firmware as on the ESP32, over the byte-level chip models) and the grid model is the
reference meter. The tool injects a front-end error into the chip model (what an uncalibrated
board's dividers and CTs do), measures the energy error, runs the procedure (no load, PF 1,
PF 0.5 lagging, PF 1 again), saves the record into the FRAM (--fram-image keeps it, like the
real part), measures again, power-cycles the board, lets `calibration.apply_stored` re-apply
the record at boot and measures once more. It prints JSON: the injected error, the energy
errors (ppm of active energy per phase) before / after / after the reboot at PF 1 and PF 0.5,
the procedure's verification errors and the register values.

    python tools/calibrate.py --afe ade7953 --gain-i-ppm 20000 --gain-v-ppm 10000 \\
        --phase-mdeg -1000 --fram-image build/fram.img
    python tools/calibrate.py --afe atm90e32 --fram-image build/fram3.img

`virtual_calibration()` is plain MicroPython-compatible code: the host tests run it under
CPython and the MicroPython unix port (tests_host/scenarios/sc_calibration.py).

Real board (--port). Untested here (no hardware): each step is one
`mpremote connect PORT resume exec ...` that runs firmware.calibration on the board (stopping
the meter loop with Ctrl-C, as mpremote does), between prompts for the operator to set the
load on the test bench and read the reference meter: --ref-v (V), --ref-i (A) and --ref-pf
(default 1.0) for the PF 1 steps, --ref-pf-lag (default 0.5) for the phase step at the same
V and I (unless --ask prompts for each step's readings). The record is saved through the
board's store and the CoP 10 event logged on the board; reset the board afterwards so the
meter boots with apply_stored (the lead's boot hook).
"""

import json
import sys

# Test loads: 3 kW at PF 1, 3 kVA at PF 0.5 lagging (P = 1.5 kW, Q = 1.5 kW x sqrt3).
P_PF1_MW = 3_000_000
P_PF05_MW = 1_500_000
Q_PF05_MVAR = 2_598_076

DEFAULT_ERROR = {
    "v_ppm": 10_000,
    "i_ppm": 20_000,
    "phase_mdeg": -1000,
    "noise_ma": 15,
    "offset_mw": 800,
}


# ---- virtual board ---------------------------------------------------------------------
def _refs(grid):
    from hal.sim.grid import isqrt

    out = []
    for v, i, p, q, _f in grid.states():
        out.append((v, i, p, q, isqrt(p * p + q * q)))
    return out


def _set_load(sim, step):
    from hal.sim.grid import Constant

    phases = sim.grid.phases
    if step == "none":
        prog = Constant(0, 0, phases=phases)
    elif step == "pf1":
        prog = Constant(P_PF1_MW, 0, phases=phases)
    else:
        prog = Constant(P_PF05_MW, Q_PF05_MVAR, phases=phases)
    sim.grid.set_program(prog)
    return None if step == "none" else _refs(sim.grid)


def energy_error_ppm(sim, afe, windows):
    """Active-energy error per phase (ppm) over `windows` 1 s windows of the present constant
    load, read through the driver exactly as the meter reads it."""
    from array import array

    phases = afe.phases
    counts = array("l", [0] * (4 * phases))
    for _ in range(2):  # the window in which the load changed, and one to align
        sim.sleep_ms(1000)
        afe.read_energy_into(counts)
    net = [0] * phases
    for _ in range(windows):
        sim.sleep_ms(1000)
        afe.read_energy_into(counts)
        for p in range(phases):
            net[p] += counts[4 * p] - counts[4 * p + 1]
    num, den = afe.count_uwh
    out = []
    for p in range(phases):
        meas_nj = net[p] * num * 3_600_000 // den  # 1 uWh = 3.6e6 nJ
        truth_nj = sim.grid.state(p)[2] * 1_000_000 * windows
        err = (meas_nj - truth_nj) * 1_000_000
        out.append((abs(err) * 2 + truth_nj) // (2 * truth_nj) * (1 if err >= 0 else -1))
    return out


def _energy_errors(sim, afe, windows):
    _set_load(sim, "pf1")
    pf1 = energy_error_ppm(sim, afe, windows)
    _set_load(sim, "pf0.5")
    pf05 = energy_error_ppm(sim, afe, windows)
    return {"pf1": pf1, "pf0.5": pf05}


def _boot(sim):
    """One power-up of the board's firmware side: drivers, AFE start-up, the meter core."""
    from firmware.meter import Meter

    hw = sim.hardware()
    hw.afe.begin()
    meter = Meter(hw.afe.phases, hw.afe.count_uwh, hw.fram, hw.rtc, hw.ticks_ms, hw.tick_ms)
    meter.boot()
    return hw, meter


def _power_cycle(sim):
    sim.afe_model.power_down()
    sim.fram_model.power_off()
    sim.rtc_model.power_off()
    sim.sleep_ms(1000)
    sim.rtc_model.power_on()
    sim.fram_model.power_on()
    sim.afe_model.power_up()
    return _boot(sim)


def event_codes(meter, log_id=0):
    """(code, value) of every kept entry of a log (default: the Event Log), oldest first."""
    return [[e[2], e[3]] for e in meter.logs.entries(log_id)]


def _inject(model, error):
    """error: one dict for every phase, or a list of per-phase dicts (ATM90E32)."""
    if isinstance(error, dict):
        model.set_frontend_error(**error)
        return
    for p in range(len(error)):
        model.set_frontend_error(phase=p, **error[p])


def build_sim(afe="ade7953", fram_image=None):
    from board.sim import SimBoard, load_options

    opts = load_options(
        {
            "afe": afe,
            "speed": "max",
            "display": "none",
            "load": "constant",
            "fram_image": fram_image,
        }
    )
    return SimBoard(opts)


def virtual_calibration(afe="ade7953", error=None, fram_image=None, windows=4, energy_windows=20):
    """The whole virtual-board run (module docstring); returns a JSON-serialisable dict."""
    from firmware import calibration

    if error is None:
        error = DEFAULT_ERROR
    sim = build_sim(afe, fram_image)
    hw, meter = _boot(sim)
    first = calibration.apply_stored(meter, hw.afe)  # an image may hold an earlier record
    _inject(sim.afe_model, error)
    proc = calibration.Procedure(hw.afe, sim.sleep_ms, windows=windows)
    proc.reset()
    before = _energy_errors(sim, hw.afe, energy_windows)
    verify = proc.run(lambda step: _set_load(sim, step))
    proc.save(meter)
    events = event_codes(meter)
    after = _energy_errors(sim, hw.afe, energy_windows)
    hw, meter = _power_cycle(sim)
    applied = calibration.apply_stored(meter, hw.afe)
    rebooted = _energy_errors(sim, hw.afe, energy_windows)
    if fram_image:
        sim.fram_model.save()
    rec = calibration.stored(meter.store)
    return {
        "afe": afe,
        "error": error,
        "stored_at_start": first,
        "before": before,
        "after": after,
        "verify": verify,
        "verified": proc.verified,
        "values": proc.values,
        "events": events,
        "after_reboot": {"apply": applied, "energy": rebooted, "events": event_codes(meter)},
        "record_values": None if rec is None else rec[1],
    }


# ---- real board --------------------------------------------------------------------------
_BOARD_STEP = """
import json
from firmware import app as _a, calibration as _c
_hw = _a._app.hw
_s = getattr(_c, "_session", None)
if _s is None or {step!r} == "reset":
    _sl = getattr(_hw, "sleep_ms", None) or __import__("time").sleep_ms
    _s = _c.Procedure(_hw.afe, _sl, windows={windows})
    _c._session = _s
    _s.reset()
_r = None
if {step!r} == "offsets":
    _r = _s.offsets()
elif {step!r} == "gains":
    _r = _s.gains({refs!r})
elif {step!r} == "phase":
    _r = _s.phase({refs!r})
elif {step!r} == "verify":
    _r = _s.errors({refs!r})
elif {step!r} == "save":
    _s.verified = {verified!r}
    _s.save(_a._app.meter)
    _r = "saved"
print("@@CAL@@" + json.dumps({{"result": _r, "values": _s.values}}))
"""


def _board_refs(v, i, pf, phases):
    import math

    s = v * i
    p = s * pf
    q = s * math.sqrt(max(0.0, 1 - pf * pf))
    ref = (round(v * 1000), round(i * 1000), round(p * 1000), round(q * 1000), round(s * 1000))
    return [ref] * phases


def _board_step(port, step, refs=None, windows=4, verified=False):
    import subprocess

    from tools.deploy import mpremote_binary

    code = _BOARD_STEP.format(step=step, refs=refs, windows=windows, verified=verified)
    out = subprocess.run(
        [mpremote_binary(), "connect", port, "resume", "exec", code],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for line in out.splitlines():
        if line.startswith("@@CAL@@"):
            return json.loads(line[7:])
    raise RuntimeError("no result from the board:\n" + out)


def real_calibration(args):
    phases = args.phases

    def ask(prompt, step_pf):
        input(prompt + " then press Enter: ")
        if not args.ask:
            return _board_refs(args.ref_v, args.ref_i, step_pf, phases)
        v = float(input("  reference V: "))
        i = float(input("  reference A: "))
        pf = float(input("  reference PF: "))
        return _board_refs(v, i, pf, phases)

    _board_step(args.port, "reset", windows=args.windows)
    input("Remove the load (voltage on, no current), then press Enter: ")
    _board_step(args.port, "offsets", windows=args.windows)
    refs1 = ask("Apply the PF %.2f load" % args.ref_pf, args.ref_pf)
    _board_step(args.port, "gains", refs1, args.windows)
    refs5 = ask("Apply the PF %.2f lagging load" % args.ref_pf_lag, args.ref_pf_lag)
    _board_step(args.port, "phase", refs5, args.windows)
    refs1 = ask("Apply the PF %.2f load again" % args.ref_pf, args.ref_pf)
    _board_step(args.port, "gains", refs1, args.windows)
    e1 = _board_step(args.port, "verify", refs1, args.windows)["result"]
    refs5 = ask("Apply the PF %.2f lagging load again" % args.ref_pf_lag, args.ref_pf_lag)
    e5 = _board_step(args.port, "verify", refs5, args.windows)["result"]
    worst = max(abs(x) for rows in (e1, e5) for row in rows for x in row[:3])
    saved = _board_step(args.port, "save", verified=worst <= 1000)
    return {"verify": {"pf1": e1, "pf0.5": e5, "worst_ppm": worst}, "values": saved["values"]}


def _host_paths():
    """CPython: the repo root and the host shim (micropython.const, framebuf) on sys.path."""
    import os

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if root not in sys.path:
        sys.path.insert(0, root)
    shim = os.path.join(root, "hal", "sim", "cpython")
    if shim not in sys.path:
        sys.path.append(shim)
    os.chdir(root)  # board/sim.py finds data/ from the repo root


def main(argv=None):
    import argparse

    _host_paths()

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--afe", choices=("ade7953", "atm90e32"), default="ade7953")
    ap.add_argument("--fram-image", help="FRAM image file of the virtual board (kept)")
    ap.add_argument("--gain-v-ppm", type=int, default=DEFAULT_ERROR["v_ppm"])
    ap.add_argument("--gain-i-ppm", type=int, default=DEFAULT_ERROR["i_ppm"])
    ap.add_argument("--phase-mdeg", type=int, default=DEFAULT_ERROR["phase_mdeg"])
    ap.add_argument("--noise-ma", type=int, default=DEFAULT_ERROR["noise_ma"])
    ap.add_argument("--offset-mw", type=int, default=DEFAULT_ERROR["offset_mw"])
    ap.add_argument("--windows", type=int, default=4, help="readings averaged per step")
    ap.add_argument("--energy-windows", type=int, default=20)
    ap.add_argument("--port", help="real board: mpremote device (e.g. /dev/ttyUSB0)")
    ap.add_argument("--phases", type=int, default=1, help="real board: 1 or 3")
    ap.add_argument("--ref-v", type=float, default=230.0)
    ap.add_argument("--ref-i", type=float, default=5.0)
    ap.add_argument("--ref-pf", type=float, default=1.0)
    ap.add_argument("--ref-pf-lag", type=float, default=0.5)
    ap.add_argument("--ask", action="store_true", help="real board: prompt for each reading")
    args = ap.parse_args(argv)
    if args.port:
        result = real_calibration(args)
    else:
        error = {
            "v_ppm": args.gain_v_ppm,
            "i_ppm": args.gain_i_ppm,
            "phase_mdeg": args.phase_mdeg,
            "noise_ma": args.noise_ma,
            "offset_mw": args.offset_mw,
        }
        result = virtual_calibration(
            args.afe, error, args.fram_image, args.windows, args.energy_windows
        )
    print(json.dumps(result, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
