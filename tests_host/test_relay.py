"""hal/relay.py against hal/sim/relay_model.py: pulses, feedback, faults, no toggle at boot."""

from mpy import run_scenario


def test_open_close_cycle(interp):
    r = run_scenario(interp, "sc_ui_hw", "relay_cycle")
    # Construction drives no coil and never moves the contact, whichever way it latched.
    assert r["boot_1"] == [True, True, 0, 0]
    assert r["boot_0"] == [False, False, 0, 0]
    # 50 ms pulse + 5 ms settle per operation, in simulated time.
    assert r["after_open"] == [False, False, 1, 55]
    assert r["after_close"] == [True, True, 2, 110]
    assert r["close_again"] == [True, 2, 2]  # re-pulse: no movement, no error
    assert r["coils_idle"] == [0, 0]
    assert r["overlaps"] == 0


def test_faults(interp):
    r = run_scenario(interp, "sc_ui_hw", "relay_faults")
    assert r == {
        # 10 ms pulse on a relay that needs 20 ms: contact stays, EIO, counted as short.
        "short_errno": 5,
        "short": [True, 0, 1, True],
        # Exactly the operate time is enough.
        "exact_errno": 0,
        "exact_state": False,
        # Welded contact: EIO, coils left off; freed, it works again.
        "stuck_errno": 5,
        "stuck": [False, 0, 0, 0],
        "unstuck_errno": 0,
        "unstuck_state": True,
        # Both coils at once: no movement, overlap counted.
        "both": [False, 0, 1],
        # A coil left on is switched off before the other is pulsed.
        "forced_off": [True, 0, 0],
        "bad_args": 3,
    }
