"""hal/keypad.py against hal/sim/keypad_model.py: every key, debounce, buttons, no allocation."""

import pytest

from mpy import run_scenario


def test_every_key_reports_one_press_edge(interp):
    r = run_scenario(interp, "sc_ui_hw", "keypad_every_key")
    assert [k[0] for k in r["keys"]] == list("123456789*0#AB")
    for key, scans, held, down, after_release, held_after in r["keys"]:
        # First scan sees it once (not yet debounced), second confirms it, third holds.
        assert scans == [None, key, None], key
        assert held == key
        assert down is True
        assert after_release == [None, None]
        assert held_after is None
    assert r["rows_idle"] == [1, 1, 1, 1]  # every row back high after a scan
    assert r["cols_idle"] == [1, 1, 1]


def test_debounce_rollover_and_button_priority(interp):
    r = run_scenario(interp, "sc_ui_hw", "keypad_debounce")
    assert r["seq"] == [
        None, None, None, None, None, None,  # bouncing: never two equal reads in a row
        None, "5", None,  # settled: one edge
        None, None,  # 9 added while 5 held: 5 still wins
        None, "9", "9",  # 5 released: 9 becomes the key, pressed() says so
        None, None, None,  # 9 released: no event, nothing held
        None, "B",  # button B and key 0 together: the button wins
        None, None,
    ]  # fmt: skip
    assert r["errors"] == 2


def test_scan_allocates_nothing(interp):
    assert run_scenario(interp, "sc_ui_hw", "keypad_scan_allocates_nothing") == {
        "ok": True,
        "got": [None, "8", None],
    }


def test_model_rejects_unknown_key():
    from hal.sim.keypad_model import KeypadModel
    from hal.sim.machine import Pin

    rows = [Pin(i, Pin.OUT, value=1) for i in range(4)]
    cols = [Pin(10 + i, Pin.IN, Pin.PULL_UP) for i in range(3)]
    km = KeypadModel(rows, cols, (Pin(20, Pin.IN, Pin.PULL_UP),))
    with pytest.raises(ValueError):
        km.press("B")  # only one button wired
    with pytest.raises(ValueError):
        km.press("x")
    km.press("#")
    km.press("A")
    assert km.held() == ["#", "A"]
    rows[3].value(0)
    assert [c.value() for c in cols] == [1, 1, 0]
    rows[3].value(1)
    assert [c.value() for c in cols] == [1, 1, 1]
