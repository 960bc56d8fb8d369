"""hal/fram.py driver against the hal/sim/fram_model.py MB85RS model, under both interpreters."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpy import run_scenario

# part: (size, addr_bytes, product id) per the RDID table in chips.md §3.
RDID_PARTS = {
    "MB85RS64V": (8192, 2, 0x0302),
    "MB85RS64T": (8192, 2, 0x2303),
    "MB85RS256TY": (32768, 2, 0x2503),
    "MB85RS1MT": (131072, 3, 0x2703),
    "MB85RS2MT": (262144, 3, 0x2803),
    "MB85RS2MTA": (262144, 3, 0x4803),
    "MB85RS4MT": (524288, 3, 0x4903),
}


def test_rdid_density_addressing_and_exact_frames(interp):
    r = run_scenario(interp, "sc_fram", "rdid_all")
    assert sorted(r) == sorted(RDID_PARTS)
    for part, (size, width, pid) in RDID_PARTS.items():
        got = r[part]
        assert (got["size"], got["addr_bytes"], got["product_id"]) == (size, width, pid), part
        # RDID (opcode + 4 bytes clocked out), then RDSR to check block protect.
        assert got["init_frames"] == [[0x9F, 0, 0, 0, 0], [0x05, 0]]
        addr = [0x00, 0x12, 0x34] if width == 3 else [0x12, 0x34]
        assert got["frames"] == [
            [0x06],  # WREN is a frame of its own
            [0x02] + addr + [0xAA, 0xBB],  # WRITE, address, data in one frame
            [0x03] + addr + [0x00, 0x00],  # READ, address, 2 dummy bytes
        ], part
        assert got["read"] == [0xAA, 0xBB]


@pytest.mark.parametrize("part", ["MB85RS64V", "MB85RS256TY", "MB85RS2MT", "MB85RS4MT"])
def test_round_trip(interp, part):
    r = run_scenario(interp, "sc_fram", "round_trip", part)
    assert r["ok"] == [True, True, True, True]
    assert r["bytes_written"] == 17 + 64 + 40 + 1
    assert r["write_frames"] == 4
    assert r["bytes_read"] == 2 * (17 + 64 + 40 + 1)


def test_wel_rules_at_the_model(interp):
    r = run_scenario(interp, "sc_fram", "wel_rules")
    assert r == {
        "no_wren": 0x00,
        "wel_after_wren": 2,
        "with_wren": [0x55, 0x56],
        "wel_after_write": 0,
        "second_write": 0x55,
        "same_frame": 0x55,
        "after_wrdi": 0x55,
        "wel_after_power_cycle": 0,
        "after_power_cycle": 0x55,
        "wrsr_no_wel": 0,
        "wrsr": 0x8C,  # WPEN|BP1|BP0 written, WEL cleared by the WRSR frame
        "write_frames": 1,
    }


def test_block_protect_and_driver_clears_it(interp):
    r = run_scenario(interp, "sc_fram", "block_protect")
    assert r == {
        "below": 0x11,
        "above": 0x00,
        "status": 0x04,
        "status_after_init": 0x00,
        "above_after_init": 0x33,
    }


def test_address_wrap(interp):
    r = run_scenario(interp, "sc_fram", "wrap")
    assert r == {
        "read": [0x5E, 0x5F, 0xA0, 0xA1],
        "written": [1, 2, 3],
        "high_bits": [0x5E],
        "read_3byte": [0x77, 0x78],
    }


def test_bounds(interp):
    r = run_scenario(interp, "sc_fram", "bounds")
    assert r == {
        "read_neg": "ValueError",
        "read_past": "ValueError",
        "read_last": None,
        "write_at_end": "ValueError",
        "write_past": "ValueError",
        "write_last": None,
        "empty": None,
        "bad_size": "ValueError",
        "size_mismatch": "ValueError",
        "size_match": None,
    }


def test_absent_or_wrong_device(interp):
    r = run_scenario(interp, "sc_fram", "absent")
    enodev = 19
    assert r == {
        "nothing": enodev,
        "nothing_with_size": enodev,
        "zeros": enodev,
        "no_rdid_without_size": enodev,
        "no_rdid_with_size": [8192, 2, [1, 2]],
        "mode2": enodev,
        "mode3": 262144,
        "too_fast": enodev,
    }
    assert run_scenario(interp, "sc_fram", "errno_values") == {"ENODEV": enodev}


OLD = [0x11] * 32
NEW = [0x80 + i for i in range(32)]


@pytest.mark.parametrize("k", [0, 1, 5, 31])
def test_power_cut_leaves_exactly_the_prefix(interp, k):
    r = run_scenario(interp, "sc_fram", "power_cut", k, 0, None)
    assert r["cut"] is True
    assert r["cut_address"] == 100 + k
    assert r["powered"] is False
    assert r["region"] == NEW[:k] + OLD[k:]
    assert r["read_while_off"] == [0xFF] * 4
    assert r["write_while_off_changed"] is False
    assert r["status_after_power_on"] == 0  # WEL clear after power-up
    assert r["read_after_power_on"] is True


def test_power_cut_after_the_last_byte_is_no_cut(interp):
    r = run_scenario(interp, "sc_fram", "power_cut", 32, 0, None)
    assert r["cut"] is False and r["powered"] is True
    assert r["region"] == NEW
    c = run_scenario(interp, "sc_fram", "cut_not_reached")
    assert c == {"after_10": [False, True], "after_11": [True, False, 0]}


def test_power_cut_with_garbage(interp):
    # xorshift32 seeded with 7 gives junk bytes 0xE7, 0x07, 0x43 (same on both interpreters).
    r = run_scenario(interp, "sc_fram", "power_cut", 5, 3, None)
    assert r["region"] == NEW[:5] + [0xE7, 0x07, 0x43] + OLD[8:]
    elsewhere = run_scenario(interp, "sc_fram", "power_cut", 5, 2, 3000)
    assert elsewhere["region"] == NEW[:5] + OLD[5:]
    assert elsewhere["at"] == [0xE7, 0x07, 0x22, 0x22]


def test_image_save_and_load(interp, tmp_path):
    r = run_scenario(interp, "sc_fram", "save_load", str(tmp_path / "fram.img"))
    assert r == {"fresh": [0, 0], "reloaded": [0xDE, 0xAD], "fill": 0xFF}
    assert (tmp_path / "fram.img").stat().st_size == 8192


def test_data_path_allocates_nothing(interp):
    # Meaningful under MicroPython (heap_lock is a no-op in the CPython shim).
    assert run_scenario(interp, "sc_fram", "heap_lock") == {"locked_ok": True, "data_ok": True}


# ---- CPython-only property tests -------------------------------------------------------


def _cpython_fram(part="MB85RS64V"):
    from hal.fram import MB85RS
    from hal.sim import machine
    from hal.sim.fram_model import MB85RSModel

    model = MB85RSModel(part)
    spi = machine.SPI(1, baudrate=10_000_000)
    cs = machine.Pin("CS", machine.Pin.OUT, value=1)
    spi.attach(cs, model)
    return MB85RS(spi, cs), model


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 8191), st.binary(min_size=1, max_size=40)), max_size=12))
def test_random_writes_match_a_reference(writes):
    fram, model = _cpython_fram()
    ref = bytearray(8192)
    for addr, data in writes:
        if addr + len(data) > 8192:
            with pytest.raises(ValueError):
                fram.write(addr, data)
            continue
        fram.write(addr, data)
        ref[addr : addr + len(data)] = data
    assert model.image == ref
    back = bytearray(8192)
    fram.readinto(0, back)
    assert back == ref


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 8000),
    st.binary(min_size=1, max_size=64),
    st.integers(0, 70),
    st.integers(0, 4),
)
def test_any_cut_point_leaves_old_or_new_bytes(addr, data, k, garbage):
    fram, model = _cpython_fram()
    before = bytes(model.image)
    model.arm_cut(k, garbage=garbage, seed=3)
    fram.write(addr, data)
    n = len(data)
    done = min(k, n)
    assert bytes(model.image[addr : addr + done]) == data[:done]
    junk_end = addr + done + (garbage if k < n else 0)
    assert model.image[junk_end:] == before[junk_end:]
    assert model.image[:addr] == before[:addr]
    assert model.cut_happened == (k < n)
