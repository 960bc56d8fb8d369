"""tools/read.py's command line: the profile range options and how failures are reported.

A refused read (a Data-Access-Result) is covered against the meter in test_dlms_interop.py;
here the failures that end a session: nobody listening, a meter that says nothing, a meter
that hangs up, and the overall deadline. Each is reported with its kind, exit status 1 (2 for
the deadline), never as a crash or a hang.
"""

import datetime as dtm
import json
import socket
import threading
import time

import pytest

pytest.importorskip("dlms_cosem")

from tools import read  # noqa: E402

UTC = dtm.timezone.utc


def test_utc_time_arguments():
    assert read.utc_time("2024-01-02T00:30") == dtm.datetime(2024, 1, 2, 0, 30, tzinfo=UTC)
    assert read.utc_time("2024-01-02T00:30Z") == dtm.datetime(2024, 1, 2, 0, 30, tzinfo=UTC)
    # An offset is converted: 01:30 at +01:00 is 00:30 UTC.
    assert read.utc_time("2024-01-02T01:30+01:00") == dtm.datetime(2024, 1, 2, 0, 30, tzinfo=UTC)
    assert read.utc_range("2024-01-02T00:00,2024-01-02T01:00") == (
        dtm.datetime(2024, 1, 2, 0, 0, tzinfo=UTC),
        dtm.datetime(2024, 1, 2, 1, 0, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--from", "yesterday"], "'yesterday' is not an ISO date-time such as 2024-01-02T00:00"),
        (["--to", "1999-12-31T23:30"], "1999-12-31T23:30 is outside the meter's calendar"),
        (
            ["--from", "2024-01-02T12:00", "--to", "2024-01-02T00:00"],
            "--from 2024-01-02T12:00:00+00:00 is after --to 2024-01-02T00:00:00+00:00",
        ),
        (["--range-check", "2024-01-02T00:00"], "a range is FROM,TO"),
        (["--phases", "2"], "invalid choice: 2"),
    ],
)
def test_bad_arguments_are_refused_before_connecting(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        read.main(argv + ["--port", "1"])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


class Listener:
    """127.0.0.1 listener whose accepted connections get `behaviour(conn)`."""

    def __init__(self, behaviour):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(10)
        self.port = self.sock.getsockname()[1]
        self.behaviour = behaviour
        self.conns = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        self.conns.append(conn)
        self.behaviour(conn)

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()
        self.thread.join(5)


def _silent(conn):
    pass  # accept, then say nothing


def _hang_up(conn):
    conn.recv(100)  # the AARQ (wrapper) or SNRM (HDLC)
    conn.close()


def _run(argv, capsys):
    t0 = time.monotonic()
    rc = read.main(argv + ["--json"])
    took = time.monotonic() - t0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return rc, out, took


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("transport", ["wrapper", "hdlc"])
def test_nobody_listening_is_a_transport_error(transport, capsys):
    port = _free_port()
    rc, out, took = _run(["--port", str(port), "--transport", transport], capsys)
    assert rc == 1
    assert out["error_kind"] == "transport"
    assert out["error"].startswith("LinkError: cannot connect to 127.0.0.1:%d" % port)
    assert took < 5


@pytest.mark.parametrize("transport", ["wrapper", "hdlc"])
def test_a_silent_meter_is_a_timeout(transport, capsys):
    srv = Listener(_silent)
    try:
        rc, out, took = _run(
            ["--port", str(srv.port), "--transport", transport, "--io-timeout", "0.5"], capsys
        )
    finally:
        srv.close()
    assert rc == 1
    assert out["error_kind"] == "timeout"
    assert out["error"] == "LinkTimeout: nothing from the meter for 0.5 s"
    assert 0.4 < took < 5


@pytest.mark.parametrize("transport", ["wrapper", "hdlc"])
def test_a_meter_that_hangs_up_is_a_transport_error(transport, capsys):
    srv = Listener(_hang_up)
    try:
        rc, out, took = _run(
            ["--port", str(srv.port), "--transport", transport, "--io-timeout", "5"], capsys
        )
    finally:
        srv.close()
    assert rc == 1
    assert out == {
        "client": 16,
        "transport": transport,
        "error": "LinkClosed: the meter closed the connection",
        "error_kind": "transport",
    }
    assert took < 4  # at once, not after the io timeout


def test_the_session_deadline_is_a_timeout(capsys):
    srv = Listener(_silent)
    try:
        rc, out, took = _run(
            ["--port", str(srv.port), "--io-timeout", "3", "--timeout", "0.5"], capsys
        )
    finally:
        srv.close()
    assert rc == 2
    assert out == {"error": "timeout after 0.5 s", "error_kind": "timeout"}
    assert 0.4 < took < 2.5
