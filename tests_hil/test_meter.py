"""The deployed meter boots to ticking, reports itself, and survives Ctrl-C with its REPL."""

import time


def test_meter_boots_to_ticking(board):
    first = board.status()
    second = board.status_after(first["ticks"])
    assert first["ticks"] > 0
    assert second["ticks"] > first["ticks"]
    if board.name == "sim":
        assert second["sim_time_s"] > first["sim_time_s"]


def test_status_reports_the_board(board):
    status = board.status()
    assert status["board"] == board.status_name
    assert isinstance(status["ticks"], int)
    assert isinstance(status["heap_free"], int) and status["heap_free"] > 0
    if board.name == "sim":
        assert isinstance(status["sim_time_s"], int)
        assert status["sim_time_s"] >= 0


def test_repl_reachable_after_ctrl_c_and_meter_resumes(board):
    # Interrupt and leave the meter stopped: the REPL answers and the counters stand still.
    stopped = board.status(resume=False)
    assert board.mpremote("eval", "6 * 7").stdout.strip() == "42"
    time.sleep(0.5)
    still = board.query(board.STATUS, resume=False)
    assert still["ticks"] == stopped["ticks"]
    # resume() restarts it with its state intact: the count goes on from where it stopped.
    board.resume()
    after = board.status_after(stopped["ticks"])
    assert after["ticks"] > stopped["ticks"]


def test_figures_on_demand_from_the_repl(board):
    # Issue 4 deliverable 7: the figures are read when asked, per phase mV, mA, mW, mvar,
    # mVA, PF x1000, f mHz (the virtual board's household load imports at 230 V, 50 Hz).
    figs = board.query("import firmware.app as app\nemit(app.figures())")
    assert isinstance(figs, list) and len(figs) % 7 == 0 and figs
    if board.name == "sim":
        assert figs[0] == 230_000 and figs[6] == 50_000
        assert figs[1] > 0 and figs[2] > 0  # current and active power of an importing load
        assert figs[4] >= figs[2]  # apparent power is at least the active power
