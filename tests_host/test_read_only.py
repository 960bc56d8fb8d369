"""Reads never alter data (requirements.md §2, CoP 5.5.3; reliability.md T8)."""

from mpy import run_scenario


def test_ten_thousand_reads_leave_the_fram_image_identical(interp):
    n = 10000 if interp == "cpython" else 2000
    r = run_scenario(interp, "sc_store", "reads_do_not_write", n)
    assert r == {"reads": n, "identical": True, "bytes_written": 0, "alarm_active": []}
