"""tools/inspect_fram.py reads a FRAM image with the firmware's own store, writing nothing."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_inspect_reports_profile_coverage_of_a_sim_image(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "tests_host", "scenarios"))
    import sc_meter  # noqa: F401  (the scenario module sets up the same paths)

    from board.sim import SimBoard, load_options
    from firmware import app

    opts = load_options(
        {
            "speed": "max",
            "display": "none",
            "days": 2,
            "tick_s": 300,
            "load": "constant",
            "dlms_port": 0,
            "hdlc_port": 0,
            "out": str(tmp_path),
        }
    )
    hw = SimBoard(opts).hardware()
    while hw is not None:
        app.main(hw)
        hw = hw.next_boot()
    image = tmp_path / "fram.img"
    before = image.read_bytes()
    proc = subprocess.run(
        [sys.executable, "tools/inspect_fram.py", str(image)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    r = json.loads(proc.stdout)
    assert r["mount"] == "mounted" and r["errors"] == []
    assert r["profile"]["all_four_channels_days"] == 2.0
    assert r["profile"]["import_days"] == 2.0
    assert r["profile"]["newest_period_end_utc"] == "2024-01-03 00:00:00"
    assert r["bytes_written_by_inspection"] == 0
    assert image.read_bytes() == before
