"""An exception in main.py is logged to crash.log and the board resets instead of hanging
(issue "Foundation" 8). Here the board's drivers cannot be built: the virtual board's options
name a front end that does not exist, so board.build() raises at every power-on."""

import json
import os
import signal
import time

import pytest


def test_a_board_whose_drivers_fail_logs_the_crash_and_resets(board):
    if board.virtual is None:
        pytest.skip("needs a board whose build can be made to fail: the virtual board")
    flash = board.virtual.flash_dir
    crash_log = os.path.join(flash, "crash.log")
    options = os.path.join(flash, "sim.json")
    # While the board crash-loops mpremote cannot reach it, so this test (virtual board only)
    # edits its flash directory from the host.
    if os.path.exists(crash_log):
        os.remove(crash_log)
    resets_before = len(board.virtual.resets)
    with open(options, "w") as f:
        json.dump(dict(board.SIM_OPTIONS, afe="nosuch"), f)
    try:
        board.power_cycle()
        deadline = time.monotonic() + 20
        exits = []
        while time.monotonic() < deadline and len(exits) < 2:
            time.sleep(0.2)
            exits = [r for r in board.virtual.resets[resets_before:] if r[0] == "exit"]
        # Each power-on crashed and reset (the virtual board's reset ends its process: see
        # tools/vboard.py): the board powered on again by itself, more than once, instead
        # of sitting at a REPL.
        assert len(exits) >= 2, board.console_tail()
        assert all(code == -signal.SIGTERM for _, code in exits), exits
        with open(crash_log) as f:
            text = f.read()
        assert "Traceback" in text and "afe must be 'ade7953' or 'atm90e32'" in text
        assert text.count("Traceback") >= 2  # appended at every crash, never truncated
    finally:
        with open(options, "w") as f:
            json.dump(board.SIM_OPTIONS, f)
        board.power_cycle()
        board.wait_running()
    assert board.status()["ticks"] > 0
