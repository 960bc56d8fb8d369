"""firmware/store.py + layout.py: geometry, CRC, record pairs, mount/format, bit rot (T4), heap."""

import pytest

from mpy import run_scenario


def test_geometry_capacity_arithmetic(interp):
    r = run_scenario(interp, "sc_store", "geometry")
    # 256 KiB: 93 days of all four channels, 397 days (13 longest months) of import.
    assert r["262144"] == [4465, 14593, 19056, 4464, 8469]
    assert r["131072"] == [961, 9798, 10757, 960, 8]  # CoP 10's 20 days + 224 days import
    assert r["65536"] == [961, 3427, 4386, 960, 3]
    assert "overlap" not in r and "not_covering" not in r
    assert r["small"] == "FRAM of 32768 bytes is too small: need at least 34708"


def test_table_crc32_matches_lib_crc(interp):
    assert run_scenario(interp, "sc_store", "crc_checks") == [True, True, True]


def test_record_pair_commit_load_repair(interp):
    r = run_scenario(interp, "sc_store", "pair_basics")
    assert r == {
        "r1": "formatted",
        "blank": True,
        "seqs": [1, 0, 2, 1],  # first commit -> copy A seq 1, second -> copy B seq 2
        "r2": "mounted",
        "c2": "BB",
        "r3": ["identity"],  # newest copy corrupted: older one used, bad one rewritten
        "c3": "AA",
        "r4": [],  # repaired for good
        "wrong_len": 1,
        "seq_wrap": [True, False, False],
    }


def test_mount_format_foreign_version_geometry(interp):
    r = run_scenario(interp, "sc_store", "mount_cases")
    assert r["blank_00"] == "formatted"
    assert r["blank_ff"] == "formatted"
    assert r["corrupt_sb"] == {
        "state": "read-only",
        "read_only": True,
        "nvm_error": True,
        "energy": 123456,  # the register record is still readable
        "refused": 1,  # EPERM: nothing written over unknown data
        "dropped": -1,
        "untouched": True,
        "entries": [[0, 77, 0x8001, 5]],
    }
    assert r["foreign"] == ["read-only", True, 0]
    assert r["forced"] == "mounted"
    assert r["future"] == "FRAM layout version 9, firmware has 1 and no migration"
    assert r["migrated"] == [["migrated from v9"], [1], "mounted"]
    assert r["geometry"] == "FRAM superblock is for another geometry (size"
    assert r["regs_lost"] == {
        "state": "invalid",
        "errors": ["registers"],
        "alarm": [0x81AE],
        "log": [[0, 5000, 0x81AE, 1]],
        "profile_lost": True,
    }
    assert r["format_cuts"] == [32, 32]  # every interrupted format formats again at boot


@pytest.mark.parametrize("which", ["a", "b"])
def test_bit_rot_in_one_copy_uses_the_survivor(interp, which):
    stride = 1 if interp == "cpython" else 13
    r = run_scenario(interp, "sc_store", "bitflips", which, stride)
    n = len(range(0, 338 * 8, stride))
    assert r == {"ok_same": n, "invalid": 0, "wrong": 0, "zeroed": 0}


def test_bit_rot_in_both_copies_is_data_invalid_never_zero(interp):
    stride = 1 if interp == "cpython" else 13
    r = run_scenario(interp, "sc_store", "bitflips", "both", stride)
    assert r == {"ok_same": 0, "invalid": len(range(0, 338 * 8, stride)), "wrong": 0, "zeroed": 0}


def test_tick_path_allocates_nothing(interp):
    # accrue + commit_registers on non-boundary ticks under heap_lock (real driver + model).
    r = run_scenario(interp, "sc_store", "tick_allocates_nothing")
    # 5 + 20 x 12345 fine units at 24000 per Wh = 10 Wh + 6905 carried.
    assert r == [True, True, 10, 6905]


def test_write_figures_for_the_bench(interp):
    assert run_scenario(interp, "sc_store", "write_figures") == {
        # One register copy, only the bytes that differ from what that copy held: the seq's
        # low byte, the open period's number (4) and first period (3) that this copy had not
        # held yet, the channel's remainder (1) and the CRC (4).
        "tick": 13,
        # The close: the 9-byte import-ring copy and the 18-byte 4-channel record, plus 14
        # bytes of the register copy (seq, period number, whole units, status, carry, CRC).
        "hh_close": 41,
        "log_append": 16,
        "config_commit": 74,
        "per_day": 13 * 86400 + (41 - 13) * 48,
    }


def test_commit_writes_only_changes_and_heals_a_copy_that_drifted(interp):
    r = run_scenario(interp, "sc_store", "shadow_drift")
    whole = 6 + r["n"] + 4  # header, payload, CRC
    assert r["normal"] == 1 + 1 + 4  # the seq's low byte, the one changed byte, the CRC
    # A byte changed behind the store: the diff write (6) fails the read-back, and the copy
    # is rewritten whole; no error is raised or recorded.
    assert r["drift"] == 6 + whole
    # After a bus error half way through a commit, that copy is written whole next time.
    assert r["failed"] is True
    assert r["after_error"] == whole
    assert r["nvm_error"] is False
    # After a reboot both copies are valid (nothing to repair) and hold the last commit.
    assert r["repaired"] == []
    assert r["state"] == 0  # OK
    assert r["payload_ok"] is True
