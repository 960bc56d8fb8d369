"""`make sim` end to end: tools/sim.py runs main.py in the MicroPython unix port and leaves
registers.json, truth.json, fram.img, display.pbm and display.png in --out (README "Quick
start"). The registers must equal the AFE model's exact counts converted with the driver's
integer ratio, to the unit (tests_host/test_meter.py, requirements.md §2).
"""

import json
import os
import subprocess
import sys

import pytest

from firmware.energy import QUADRANT_NAMES
from hal import ade7953, atm90e32
from mpy import micropython_or_skip

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIM = os.path.join(ROOT, "tools", "sim.py")
COUNT_UWH = {"ade7953": ade7953.COUNT_UWH, "atm90e32": atm90e32.count_uwh(3200)}
FRAM_BYTES = 256 * 1024  # MB85RS2MT, the virtual board's part
OPTIONS = (
    "--days",
    "--speed",
    "--out",
    "--afe",
    "--load",
    "--start",
    "--fram-image",
    "--display",
    "--dlms-port",
    "--hdlc-port",
    "--history-days",
    "--tick-s",
)


def _sim(*args, timeout=60):
    return subprocess.run(
        [sys.executable, SIM, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _wh(counts, count_uwh):
    num, den = count_uwh
    return counts * num // (den * 1_000_000)


@pytest.mark.parametrize(
    ("afe", "load", "phases"),
    [("ade7953", "london", 1), ("atm90e32", "varied", 3)],
    ids=["ade7953-london", "atm90e32-varied"],
)
def test_sim_run_writes_exact_registers_and_the_outputs(tmp_path, afe, load, phases):
    micropython_or_skip()
    out = tmp_path / "out"
    proc = _sim(
        "--days", "0.02", "--speed", "max", "--out", str(out), "--afe", afe, "--load", load,
        "--dlms-port", "0", "--hdlc-port", "0",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    regs = json.loads((out / "registers.json").read_text())
    truth = json.loads((out / "truth.json").read_text())
    # 0.02 days = 1728 s of 1 s windows, every one read, nothing lost, no reset.
    assert regs["afe"] == afe and regs["board"] == "sim"
    assert regs["sim_time_s"] == 1728
    assert regs["ticks"] == truth["windows_read"] == 1728
    assert regs["read_errors"] == 0 and regs["watchdog_reset"] is False
    assert regs["boots"] == 1 and regs["outages"] == truth["outages"] == 0
    assert truth["afe_counts_lost_at_power_cuts"] == [[0, 0, 0, 0]] * phases
    # Every register equals the AFE's delivered counts through the integer ratio, exactly.
    counts = truth["afe_counts"]
    assert len(counts) == phases
    cu = COUNT_UWH[afe]
    assert regs["phase_registers_wh"] == [[_wh(c, cu) for c in phase] for phase in counts]
    for q, name in enumerate(QUADRANT_NAMES):
        assert regs["registers_wh"][name] == _wh(sum(phase[q] for phase in counts), cu), name
    assert regs["registers_wh"]["active_import"] > 0  # the load was imported
    if load == "varied":
        # The varied day opens with 6 h of 800 W, 387 var (inductive) on every phase:
        # 800 W x 1728 s = 384 Wh, 387 var x 1728 s = 185.76 varh.
        assert regs["phase_registers_wh"] == [[384, 0, 185, 0]] * phases
    # The FRAM image is the whole part.
    assert (out / "fram.img").stat().st_size == FRAM_BYTES
    # display.pbm: binary PBM of the 128x64 glass; display.png: the same frame, 4x scaled.
    pbm = (out / "display.pbm").read_bytes()
    assert pbm.startswith(b"P4\n128 64\n")
    assert len(pbm) == len(b"P4\n128 64\n") + 128 * 64 // 8
    from PIL import Image

    with Image.open(out / "display.png") as png:
        png.verify()
    with Image.open(out / "display.png") as png, Image.open(out / "display.pbm") as frame:
        assert png.format == "PNG"
        assert png.size == (512, 256)
        big = png.convert("L")
        small = frame.convert("L")
        dark = 0
        for y in range(64):
            for x in range(128):
                v = small.getpixel((x, y))
                assert big.getpixel((4 * x + 2, 4 * y + 2)) == v, (x, y)
                dark += v == 0
        assert dark > 0  # the meter drew a screen


def test_sim_help_lists_every_option_and_the_loads():
    proc = _sim("--help")
    assert proc.returncode == 0
    for option in OPTIONS:
        assert option in proc.stdout, option
    assert "{london,constant,varied}" in proc.stdout
    assert "varied: a repeating day of import, export" in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--afe", "nosuch"], "argument --afe: invalid choice: 'nosuch'"),
        (["--load", "nosuch"], "argument --load: invalid choice: 'nosuch'"),
        (["--days", "-1"], "argument --days: days must be positive, not '-1'"),
        (["--days", "0"], "argument --days: days must be positive, not '0'"),
        (["--days", "nan"], "argument --days: days must be finite, not 'nan'"),
        (["--days", "x"], "argument --days: days is a number, not 'x'"),
        (["--speed", "0"], "argument --speed: speed must be positive, not '0'"),
        (["--speed", "inf"], "speed is 'max' or a positive number (1 = real time), not 'inf'"),
        (["--speed", "max"], "--speed max needs --days (otherwise it never stops)"),
        (["--tick-s", "301"], "argument --tick-s: tick must be 1..300 s, not '301'"),
        (["--tick-s", "0.5"], "tick is a whole number of seconds, not '0.5'"),
        (["--dlms-port", "70000"], "a TCP port is 0..65535 (0 = off), not '70000'"),
        (["--history-days", "-2"], "history days must be >= 0, not '-2'"),
        (["--start", "1999-12-31"], "argument --start: the meter's calendar covers 2000-2099"),
    ],
)
def test_bad_option_values_exit_nonzero_naming_the_problem(args, message):
    # Checked before MicroPython is looked for or started: no run, no outputs.
    proc = _sim(*args, "--out", "/nonexistent/never-written")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert proc.stdout == ""


def _children(pid):
    """PIDs whose parent is `pid` (Linux /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(entry))
    return out


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_terminating_the_sim_stops_the_board_too():
    # A supervisor (tools/bench_port.py, a test, systemd) stops `tools/sim.py` with SIGTERM:
    # the MicroPython process running the meter must end with it, not stay up live and
    # holding its ports.
    import signal
    import time

    micropython_or_skip()
    proc = subprocess.Popen(
        [sys.executable, SIM, "--dlms-port", "0", "--hdlc-port", "0", "--display", "none"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        board = []
        deadline = time.monotonic() + 20
        while not board and time.monotonic() < deadline:
            time.sleep(0.1)
            board = _children(proc.pid)
        assert len(board) == 1, "the sim never started MicroPython"
        time.sleep(1)  # the board is up and metering
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _alive(board[0]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(board[0]), "MicroPython outlived tools/sim.py"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_terminal_display_runs_live_with_its_clock_line():
    # `make sim` shows the LCD in the terminal and a sim-time line under it that moves every
    # simulated second, even while the LCD itself has nothing new to show.
    import re

    micropython_or_skip()
    r = _sim(
        "--days",
        "0.0005",  # 43.2 simulated seconds
        "--speed",
        "20",
        "--display",
        "terminal",
        "--dlms-port",
        "0",
        "--hdlc-port",
        "0",
        timeout=60,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    seconds = [int(s) for s in re.findall(r"sim time (\d+) s", r.stdout)]
    assert seconds == sorted(seconds) and len(set(seconds)) >= 40
    assert "\u2502" in r.stdout  # the frame of the LCD, in half-block characters
