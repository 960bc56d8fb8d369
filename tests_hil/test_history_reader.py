"""Issue "Checked by": tools/read.py against `tools/sim.py --history-days 2` (the virtual board,
real MicroPython) writes a CSV whose HH values are the sim's own, and the profile it reads
holds the two history days.

The sim runs as a subprocess on free ports: two simulated days at full speed, then a short live
stretch (LIVE_S simulated seconds at SPEED) in which the reader, as client 16, reads over the
TCP wrapper (and over HDLC, which must give the same CSV); then the run ends by itself and
writes its outputs, fram.img among them (the FRAM image is only written when the run ends,
so it is decoded afterwards: closed periods never change). Every period the reader got is
compared with the image's record of it, field by field, and so is every period the image
holds up to the last one read. Needs no board: it starts its own virtual board.
"""

import csv
import datetime as dtm
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tools.mpenv import INSTALL_HINT, ROOT, micropython_binary

UTC = dtm.timezone.utc
EPOCH = dtm.datetime(2000, 1, 1, tzinfo=UTC)
START = dtm.datetime(2024, 1, 1, tzinfo=UTC)
HISTORY_DAYS = 2
HISTORY_END = START + dtm.timedelta(days=HISTORY_DAYS)
LIVE_S = 900  # simulated seconds after the history: 15 s of wall time at SPEED
SPEED = 60
DEADLINE_S = 90  # the whole test, wall time
HEADER = ["period_end_utc", "status", "ai_wh", "ae_wh", "ri_varh", "re_varh"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc):
    """End the sim and its MicroPython child: the process group it leads, by its id."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # anything of its group still there
    except ProcessLookupError:
        pass


def _read(port, transport, csv_path, timeout):
    """One tools/read.py session as client 16 -> (returncode, stdout, stderr)."""
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "tools", "read.py"),
            "--port",
            str(port),
            "--transport",
            transport,
            "--client",
            "16",
            "--csv",
            str(csv_path),
            "--json",
            "--timeout",
            str(timeout),
            "--io-timeout",
            "5",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout + 10,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


def _wait_for_port(port, deadline):
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def _fram_rows(path):
    """The HH profile the FRAM image holds, through the firmware's own store code (as
    tools/inspect_fram.py mounts it): {period end ISO: CSV row as strings}."""
    from tools import inspect_fram  # puts the host shim on sys.path

    report = inspect_fram.inspect(path)
    assert report["mount"] == "mounted" and report["errors"] == [], report
    # The history starts with the run: the oldest period begins at the start date.
    assert report["profile"]["all_four_channels_from_utc"] == "2024-01-01 00:00:00"
    from firmware.profile import Profile
    from firmware.store import RamFram, Store

    with open(path, "rb") as f:
        image = f.read()
    fram = RamFram(len(image))
    fram.image[:] = image
    store = Store(fram)
    store.mount()
    assert store.mounted
    prof = Profile(store, 1000)
    rec = [0] * 6
    rows = {}
    for p in range(prof.oldest(4), prof.newest() + 1):
        assert prof.read(p, rec), p
        assert rec[0] == p and rec[1] & 0x80 == 0  # a 4-channel record
        end = (EPOCH + dtm.timedelta(seconds=(p + 1) * 1800)).isoformat()
        rows[end] = [end] + [str(v) for v in rec[1:6]]
    return rows


def test_reader_csv_is_the_sims_own_profile_over_two_history_days(tmp_path):
    if micropython_binary() is None:
        pytest.skip(INSTALL_HINT)
    t0 = time.monotonic()
    deadline = t0 + DEADLINE_S
    wport, hport = _free_port(), _free_port()
    out_dir = tmp_path / "out"
    log_path = tmp_path / "sim.log"
    days = HISTORY_DAYS + LIVE_S / 86400
    cmd = [
        sys.executable,
        "-u",
        os.path.join(ROOT, "tools", "sim.py"),
        "--history-days",
        str(HISTORY_DAYS),
        "--days",
        repr(days),
        "--speed",
        str(SPEED),
        "--tick-s",
        "300",  # 576 ticks of history instead of 172800: the history takes seconds
        "--start",
        START.date().isoformat(),
        "--display",
        "none",
        "--dlms-port",
        str(wport),
        "--hdlc-port",
        str(hport),
        "--out",
        str(out_dir),
    ]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        # The ports it announces at start are the ones asked for.
        want = "TCP wrapper port %d, HDLC over TCP port %d" % (wport, hport)
        while want not in log_path.read_text():
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        assert _wait_for_port(wport, deadline), log_path.read_text()
        # The ports answer during the history too; read once its two days are done.
        wrapper_csv = tmp_path / "wrapper.csv"
        while True:
            assert time.monotonic() < deadline, log_path.read_text()
            rc, out, err = _read(wport, "wrapper", wrapper_csv, timeout=20)
            assert rc == 0, out + err + log_path.read_text()
            clock = dtm.datetime.fromisoformat(json.loads(out.strip().splitlines()[-1])["clock"])
            if clock >= HISTORY_END:
                break
            time.sleep(0.5)
        hdlc_csv = tmp_path / "hdlc.csv"
        rc, out, err = _read(hport, "hdlc", hdlc_csv, timeout=20)
        assert rc == 0, out + err
        # The run ends by itself after LIVE_S and writes its outputs.
        proc.wait(max(1, deadline - time.monotonic()))
    finally:
        _stop(proc)
    assert proc.returncode == 0, log_path.read_text()
    assert time.monotonic() - t0 < DEADLINE_S

    with open(wrapper_csv, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == HEADER
    rows = rows[1:]
    with open(hdlc_csv, newline="") as f:
        hdlc_rows = list(csv.reader(f))[1:]
    # HDLC read a little later: the same rows, plus any period that closed in between.
    assert hdlc_rows[: len(rows)] == rows

    # The two history days: 96 periods from the start, then the live ones read so far.
    ends = [(START + dtm.timedelta(seconds=1800 * (i + 1))).isoformat() for i in range(96)]
    assert len(rows) >= 96
    assert [r[0] for r in rows[:96]] == ends
    assert ends[-1] == HISTORY_END.isoformat()

    fram = _fram_rows(str(out_dir / "fram.img"))
    # Every row read is the image's record of that period, and the image holds no period up
    # to the last one read that the reader did not get.
    assert rows == [fram[r[0]] for r in rows]
    assert [v for k, v in sorted(fram.items()) if k <= rows[-1][0]] == rows
    assert sum(int(r[2]) for r in rows[:96]) > 0  # the household used energy
