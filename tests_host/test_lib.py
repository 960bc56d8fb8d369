"""lib/ helpers: the 2**30 tick wrap of 32-bit ports and the CRC check values."""

from mpy import run_scenario


def test_ticks_wrap_like_a_32_bit_port(interp):
    r = run_scenario(interp, "sc_lib", "tick_wrap")
    assert r == {"after": 4, "diff_forward": 10, "diff_back": -10, "add_negative": 2**30 - 2}


def test_crc_check_values(interp):
    # CRC-16/X.25 check 0x906E (IEC 62056-46 FCS); CRC-32 check 0xCBF43926.
    assert run_scenario(interp, "sc_lib", "crc_checks") == {"x25": 0x906E, "crc32": 0xCBF43926}


def test_tick_arithmetic_allocates_nothing(interp):
    assert run_scenario(interp, "sc_lib", "tick_diff_allocates_nothing") is True
