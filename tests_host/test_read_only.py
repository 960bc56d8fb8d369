"""Reads never alter data (requirements.md §2, CoP 5.5.3; reliability.md T8)."""

from mpy import run_scenario


def test_ten_thousand_reads_leave_the_fram_image_identical(interp):
    n = 10000 if interp == "cpython" else 2000
    r = run_scenario(interp, "sc_store", "reads_do_not_write", n)
    assert r == {"reads": n, "identical": True, "bytes_written": 0, "alarm_active": []}


# Rows (count, columns) of the selective reads on every profile, in the order of
# sc_cosem.read_only_every_form: by entry all / entries 2..3 x columns 2..3 / past the end,
# by range a window with data / the same with columns clock + last / a window before any data.
_HH = [[120, 6], [2, 2], [0, 0], [4, 6], [4, 2], [0, 0]]  # 120 closed half hours, 4 in range
_CHANNEL = [[120, 3], [2, 2], [0, 0], [4, 3], [4, 2], [0, 0]]
ROWS = {
    "1-0:99.1.0.255": _HH,
    "0-0:99.1.0.255": _CHANNEL,
    "0-0:99.1.1.255": _CHANNEL,
    "0-0:99.1.2.255": _CHANNEL,
    "0-0:99.1.3.255": _CHANNEL,
    # Event Log: "formatted" at now and 0x8145 at now - 60; the range is now - 60 .. now - 30
    "0-0:99.98.0.255": [[2, 3], [1, 2], [0, 0], [1, 3], [1, 2], [0, 0]],
    "0-0:99.98.1.255": [[1, 3], [0, 0], [0, 0], [1, 3], [1, 2], [0, 0]],  # entry at now - 45
    "0-0:99.98.4.255": [[1, 3], [0, 0], [0, 0], [1, 3], [1, 2], [0, 0]],  # entry at now - 30
}


def _own_reserved(ciphered):
    # Own ICs used per key set: the AARE's, f(CtoS)'s, then one per ciphered reply (every
    # ciphered request but the AARQ) = ciphered + 1; reserved in blocks of 64 from IC 1.
    used = ciphered + 1
    return 1 + 64 * ((used + 63) // 64)


def _check_every_form(r):
    assert r["rows"] == ROWS  # the same rows at every level that may read them
    assert r["identical_unciphered"] is True  # public + LLS: every byte of the image
    # HLS: only the "seccount" record moved: its header (sequence number), its CRC, and in
    # the payload exactly the own-IC reservations (bytes 0-1 key set 0, 4-5 key set 1) and
    # the accepted client ICs (8-9 key set 0, 12-13 key set 1). Failure counts and lock
    # times (16-31) unchanged; no other record, log, profile or register byte changed.
    assert r["changed"] == {
        "seccount.header": [],
        "seccount.payload": [0, 1, 4, 5, 8, 9, 12, 13],
        "seccount.crc": [],
    }
    assert r["changed_outside_records"] == 0
    c1, c2 = r["ciphered_requests"]
    assert r["seccount"] == {
        "own_reserved": [_own_reserved(c1), _own_reserved(c2)],
        "peer_ic": [1000 + c1 - 1, 2000 + c2 - 1],  # the last accepted IC of each client
        "fails_locks": "00" * 16,
    }
    assert r["own_ics_sent"] == (c1 + 1) + (c2 + 1)
    assert r["image_identical_after_phase_reads"] is True
    assert r["internal_errors"] == 0


def test_every_read_form_leaves_fram_identical_but_the_ic_record(interp):
    """Reads never alter data (DESIGN rule 6; CoP 10 5.5.3; reliability.md T8), on a single-
    phase meter: every attribute of every object at every level (16, 17, 1, 2), GET with-
    list and block transfer, and on every profile (HH, the four SMETS2 channel logs, the
    three event logs) selective access by entry and by range (scenario docstring).

    For the unciphered levels (public, LLS) the FRAM image is identical byte for byte. For
    HLS the invocation-counter record "seccount" is the ONLY region that changes: persisting
    each accepted client IC before the reply is what stops a replayed request (also across a
    power cut), and the meter reserves its own ICs ahead in blocks of 64 so none is ever
    sent twice. The test names the exact bytes of that record that changed."""
    r = run_scenario(interp, "sc_cosem", "read_only_every_form", 1)
    assert r["objects"] == 34
    assert r["requests"] == {"16": 200, "17": 200, "1": 200, "2": 200}
    assert r["readable"] == {"16": 60, "17": 188, "1": 193, "2": 198}
    assert r["ciphered_requests"] == [228, 229]
    assert r["seccount"]["own_reserved"] == [257, 257]
    assert r["seccount"]["peer_ic"] == [1227, 2228]
    assert r["phase_registers"] == []
    _check_every_form(r)


def test_every_read_form_on_a_three_phase_meter(interp):
    """The same on a 3-phase (ATM90E32) meter: its 12 per-phase registers 1-0:21..24.8.0,
    41..44.8.0, 61..64.8.0 are read at every level too. For HLS, as above, the invocation-
    counter record "seccount" is the only region that changes."""
    r = run_scenario(interp, "sc_cosem", "read_only_every_form", 3)
    assert r["objects"] == 46  # 34 + 12 per-phase registers
    assert r["requests"] == {"16": 236, "17": 236, "1": 236, "2": 236}
    assert r["readable"] == {"16": 96, "17": 224, "1": 229, "2": 234}  # + 36 each
    assert r["ciphered_requests"] == [266, 266]
    # L1 AI, AE, RI, RE, L2 ..., L3 ...: (4 phase + quadrant + 1) Wh x 3 windows, unchanged
    # by all those reads.
    assert r["phase_registers"] == [3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 33, 36]
    _check_every_form(r)
