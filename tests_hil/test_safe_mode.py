"""Safe mode: with the safe-mode key held at power-on, main.py leaves the meter stopped and
the REPL reachable (so a bad firmware can always be replaced)."""

import json
import time

import pytest


def test_safe_mode_key_at_power_on_keeps_meter_stopped(board):
    if board.virtual is None:
        pytest.skip("on a real board, hold button A while resetting and check the REPL by hand")
    held = board.work / "sim-safe.json"
    held.write_text(json.dumps(dict(board.SIM_OPTIONS, safe_mode=True)))
    normal = board.work / "sim.json"
    normal.write_text(json.dumps(board.SIM_OPTIONS))
    board.put(str(held), "sim.json")
    try:
        board.power_cycle()
        time.sleep(board.boot_wait)
        assert board.mpremote("eval", "1 + 1").stdout.strip() == "2"
        first = board.query(
            "import sys\nran = 'board' in sys.modules\n"
            "import firmware.app as app\nemit([app.status(), ran])",
            resume=False,
        )
        time.sleep(0.5)
        second = board.query("import firmware.app as app\nemit(app.status())", resume=False)
        status, main_ran = first
        assert main_ran is True  # main.py ran (it imports `board` to read the key) ...
        assert status.get("running", False) is False  # ... and did not start the meter
        assert status.get("ticks", 0) == 0
        assert second.get("ticks", 0) == 0
    finally:
        board.put(str(normal), "sim.json")
        board.power_cycle()
        board.wait_running()
    assert board.status()["ticks"] > 0
