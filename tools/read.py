"""Read a meter (or the virtual board) over DLMS/COSEM with the PyPI client dlms-cosem.

    .venv/bin/python tools/read.py                      # 127.0.0.1:4059, wrapper, client 16
    .venv/bin/python tools/read.py --client 17 --csv hh.csv --png hh.png
    .venv/bin/python tools/read.py --transport hdlc --port 4061 --client 1 --ic 1000
    .venv/bin/python tools/read.py --from 2024-01-02T00:00 --to 2024-01-02T12:00 --csv x.csv

Reads the clock, every register with its scaler/unit (--phases 3 adds the per-phase registers
1-0:21..24.8.0, 41..44.8.0, 61..64.8.0 of a 3-phase meter), the HH profile 1-0:99.1.0.255
(all, or by range with --from/--to, UTC, both bounds inclusive; either bound alone reads from
the oldest row or up to the newest) and, with --logs, the three event logs. Writes the profile
as CSV (period end UTC, status, AI Wh, AE Wh, RI varh, RE varh) and a PNG plot (Pillow).
Levels: --client 16 public, 17 reader (LLS, --password), 1 operator / 2 configuration
(HLS-GMAC, --ek/--ak, --ic = first client invocation counter: it must be above every IC the
meter accepted before). --sync preset|shift synchronises the clock to this host (operator
level); --try-write attempts a clock write and reports the result. --json prints a summary.

A read the meter refuses is a result, not a failure: it is recorded in place of the value as
{"error": "read-write-denied", "kind": "data-access-result", "code": 3} (the Data-Access-Result
of the GET) and the session goes on. A transport failure ends the session: the entry being
read is recorded with kind "transport" or "timeout", and the JSON summary carries "error" and
"error_kind" (also "association", "action", "exception-response", "protocol").

The TCP connection is this file's FramedTcpIO, not dlms-cosem's BlockingTcpIO: it ends an HDLC
frame where the frame's length field says, so an FCS whose last byte is 0x7E is not taken for
the closing flag, and a connection the meter closed is an error instead of an endless loop.

The whole session runs in a worker thread with a hard deadline (--timeout, default 60 s):
dlms-cosem can spin forever on a socket the peer closed (dlms.md §9). Exit status: 0 ok,
1 a DLMS/IO error, 2 timeout.
"""

import argparse
import csv
import datetime as dtm
import json
import socket
import sys
import threading

EK = "000102030405060708090A0B0C0D0E0F"
AK = "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"
EK2 = "101112131415161718191A1B1C1D1E1F"
AK2 = "C0C1C2C3C4C5C6C7C8C9CACBCCCDCECF"
UTC = dtm.timezone.utc
EPOCH = dtm.datetime(2000, 1, 1, tzinfo=UTC)
# Open ends of a range read given only one bound: the meter's calendar covers 2000-2099.
RANGE_FIRST = EPOCH
RANGE_LAST = dtm.datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC)

REGISTERS = [
    "1.0.1.8.0.255",
    "1.0.2.8.0.255",
    "1.0.3.8.0.255",
    "1.0.4.8.0.255",
    "1.0.1.29.0.255",
    "1.0.2.29.0.255",
    "1.0.3.29.0.255",
    "1.0.4.29.0.255",
]
# L1 21..24, L2 41..44, L3 61..64: active import, active export, reactive import, reactive
# export per phase (docs/dlms.md; firmware/cosem/objects.py PHASE_C).
PHASE_REGISTERS = ["1.0.%d.8.0.255" % (c + q) for c in (21, 41, 61) for q in range(4)]
LOGS = {"event": "0.0.99.98.0.255", "security": "0.0.99.98.1.255", "power": "0.0.99.98.4.255"}


# ---------------------------------------------------------------- failures


class LinkError(Exception):
    """The TCP connection failed (kind "transport")."""


class LinkTimeout(LinkError):
    """Nothing arrived within the IO timeout (kind "timeout")."""


class LinkClosed(LinkError):
    """The meter closed the connection."""


class FramingError(LinkError):
    """Bytes that are not an IEC 62056-46 frame where one must start or end."""


class DataAccessError(Exception):
    """The meter answered a GET with a Data-Access-Result other than success."""

    def __init__(self, code, name):
        super().__init__("%s (%d)" % (name, code))
        self.code = code
        self.name = name


class ServiceError(Exception):
    """The meter answered with an exception-response (e.g. a deciphering error)."""


class AssociationFailure(Exception):
    """The association (AARQ/AARE, HLS pass 3/4) was not established."""


def error_kind(e):
    """The kind of a failure, as recorded in the summary (module docstring)."""
    from dlms_cosem import exceptions
    from dlms_cosem.client import ActionError

    if isinstance(e, DataAccessError):
        return "data-access-result"
    if isinstance(e, ServiceError):
        return "exception-response"
    if isinstance(e, AssociationFailure):
        return "association"
    if isinstance(e, ActionError):
        return "action"
    if isinstance(e, (LinkTimeout, socket.timeout)) or isinstance(e.__cause__, socket.timeout):
        return "timeout"
    if isinstance(e, (LinkError, OSError, exceptions.CommunicationError)):
        return "transport"
    return "protocol"


def failure(e):
    """An exception -> the record kept in place of a value."""
    if isinstance(e, DataAccessError):
        return {"error": e.name, "kind": "data-access-result", "code": e.code}
    return {"error": "%s: %s" % (type(e).__name__, e), "kind": error_kind(e)}


def _refused(e):
    """A failure that leaves the association usable: the meter answered, with a refusal."""
    return isinstance(e, (DataAccessError, ServiceError))


# ---------------------------------------------------------------- the connection

_FLAG = 0x7E


class FramedTcpIO:
    """dlms-cosem IO (its `IoImplementation`: connect, disconnect, send, recv, recv_until) over
    TCP that finds the end of an HDLC frame by the frame's length field.

    Why: IEC 62056-46 frames carry their length in the format field (0xA0 | S << 3 | len[10:8],
    len[7:0], counting format..FCS) and are not byte-stuffed, so 0x7E may occur inside a frame,
    as the last byte of the FCS too (1 frame in 256). dlms-cosem's HdlcTransport.recv_frame
    reads `io.recv_until(b"\\x7e")` and takes the first 0x7E after the opening flag for the
    closing one; with BlockingTcpIO an FCS ending in 0x7E leaves the real closing flag to be
    read on its own, after which recv_frame waits for yet another 0x7E the meter never sends:
    the session hangs until the timeout.

    Here `recv_until(b"\\x7e")` returns one whole frame, flags included, read by its length.
    dlms-cosem's HdlcConnection still cuts its buffer at each 0x7E and, when the piece does
    not parse, asks the transport for more and cuts again further on: each 0x7E inside the
    frame costs one more recv_until, which gets b"" (nothing new, no wait) instead of blocking
    for a frame that is not coming. Those empty answers are counted per frame and dropped on
    the next send, so a frame that really fails to parse still ends in a timeout, not a loop.

    `recv(n)` (the TCP wrapper's 8-byte header + APDU) is buffered the same way. A connection
    the meter closed raises LinkClosed (BlockingTcpIO spins on empty reads: dlms.md §9).
    """

    def __init__(self, host, port, timeout=10.0):
        self.host = host
        self.port = port
        self.timeout = timeout
        self.tcp_socket = None
        self._buf = bytearray()
        self._empty_polls = 0

    def connect(self):
        if self.tcp_socket is not None:
            raise RuntimeError("already connected to %s:%d" % (self.host, self.port))
        try:
            self.tcp_socket = socket.create_connection((self.host, self.port), self.timeout)
        except socket.timeout:
            raise LinkTimeout(
                "no connection to %s:%d in %g s" % (self.host, self.port, self.timeout)
            )
        except OSError as e:
            raise LinkError("cannot connect to %s:%d: %s" % (self.host, self.port, e))
        self._buf = bytearray()
        self._empty_polls = 0

    def disconnect(self):
        sock, self.tcp_socket = self.tcp_socket, None
        if sock is None:
            return
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # the meter may have closed it first
        sock.close()

    def send(self, data):
        if self.tcp_socket is None:
            raise LinkError("not connected")
        self._empty_polls = 0
        try:
            self.tcp_socket.sendall(data)
        except socket.timeout:
            raise LinkTimeout("send blocked for %g s" % self.timeout)
        except OSError as e:
            raise LinkError("send failed: %s" % e)

    def _fill(self):
        if self.tcp_socket is None:
            raise LinkError("not connected")
        try:
            chunk = self.tcp_socket.recv(4096)
        except socket.timeout:
            raise LinkTimeout("nothing from the meter for %g s" % self.timeout)
        except OSError as e:
            raise LinkError("receive failed: %s" % e)
        if not chunk:
            raise LinkClosed("the meter closed the connection")
        self._buf += chunk

    def recv(self, amount=1):
        while len(self._buf) < amount:
            self._fill()
        out = bytes(self._buf[:amount])
        del self._buf[:amount]
        return out

    def recv_until(self, end):
        if end == bytes((_FLAG,)):
            return self.recv_frame()
        out = bytearray()
        while not out.endswith(end):
            out += self.recv(1)
        return bytes(out)

    def recv_frame(self):
        """One whole HDLC frame, 7E .. 7E, ended by its length field (class docstring)."""
        if self._empty_polls:
            self._empty_polls -= 1
            return b""
        b0 = self.recv(1)[0]
        while b0 == _FLAG:  # the opening flag, or fill between frames
            b0 = self.recv(1)[0]
        # Without an opening flag the frame shared its flag with the previous frame's end.
        if b0 & 0xF0 != 0xA0:
            raise FramingError("not an HDLC frame format type 3: 0x%02X" % b0)
        b1 = self.recv(1)[0]
        length = ((b0 & 0x07) << 8) | b1
        if length < 7:  # format 2 + addresses 1 + 1 + control + FCS 2
            raise FramingError("HDLC length field %d is too short" % length)
        body = bytes((b0, b1)) + self.recv(length - 2)
        end = self.recv(1)[0]
        if end != _FLAG:
            raise FramingError(
                "no closing flag after the %d bytes of the length field (0x%02X)" % (length, end)
            )
        self._empty_polls = body.count(_FLAG)
        return bytes((_FLAG,)) + body + bytes((_FLAG,))


# ---------------------------------------------------------------- the DLMS session


def _dt(raw):
    from dlms_cosem import time as dtime

    if raw[0] == 0xFF and raw[1] == 0xFF:
        return None
    d, _status = dtime.datetime_from_bytes(bytes(raw))
    return d.replace(tzinfo=UTC) if d.tzinfo is None else d


def _client(args):
    from dlms_cosem import security
    from dlms_cosem.client import DlmsClient
    from dlms_cosem.io import HdlcTransport, TcpTransport

    io = FramedTcpIO(args.host, args.port, timeout=args.io_timeout)
    if args.transport == "wrapper":
        transport = TcpTransport(
            client_logical_address=args.client, server_logical_address=1, io=io, timeout=5
        )
    else:
        transport = HdlcTransport(
            client_logical_address=args.client, server_logical_address=1, io=io, timeout=5
        )
    kw = {}
    if args.client == 16:
        auth = security.NoSecurityAuthentication()
    elif args.client == 17:
        auth = security.LowLevelSecurityAuthentication(secret=args.password.encode())
    else:
        auth = security.HighLevelSecurityGmacAuthentication(challenge_length=16)
        ek = args.ek or (EK if args.client == 1 else EK2)
        ak = args.ak or (AK if args.client == 1 else AK2)
        kw = {
            "encryption_key": bytes.fromhex(ek),
            "authentication_key": bytes.fromhex(ak),
            "security_suite": 0,
            "client_initial_invocation_counter": args.ic,
        }
    client = DlmsClient(
        transport=transport,
        authentication=auth,
        max_pdu_size=args.max_pdu,
        client_system_title=b"DRSM1234",
        **kw,
    )
    return client, io


def _attr(cls, ln, attr):
    from dlms_cosem import cosem, enumerations

    return cosem.CosemAttribute(
        interface=enumerations.CosemInterface(cls),
        instance=cosem.Obis.from_string(ln),
        attribute=attr,
    )


def get(c, attribute, access=None):
    """GET one attribute (block transfer included) -> raw A-XDR bytes.

    The same exchange as dlms-cosem's DlmsClient.get, through its public send/next_event, so
    that a refusal keeps its Data-Access-Result (DataAccessError) where DlmsClient.get only
    gives a message string.
    """
    from dlms_cosem.protocol import xdlms

    c.send(xdlms.GetRequestNormal(cosem_attribute=attribute, access_selection=access))
    data = bytearray()
    while True:
        r = c.next_event()
        if isinstance(r, (xdlms.GetResponseNormal, xdlms.GetResponseLastBlock)):
            data += r.data
            return bytes(data)
        if isinstance(r, xdlms.GetResponseWithBlock):
            data += r.data
            c.send(
                xdlms.GetRequestNext(
                    invoke_id_and_priority=r.invoke_id_and_priority, block_number=r.block_number
                )
            )
            continue
        if isinstance(r, (xdlms.GetResponseNormalWithError, xdlms.GetResponseLastBlockWithError)):
            return _raise_dar(r.error)
        if isinstance(r, xdlms.ExceptionResponse):
            raise ServiceError(
                "exception-response %s / %s" % (r.state_error.name, r.service_error.name)
            )
        raise TypeError("unexpected reply to a GET: %s" % type(r).__name__)


def _raise_dar(dar):
    raise DataAccessError(int(dar), dar.name.lower().replace("_", "-"))


def _value(c, cls, ln, attr, access=None):
    from dlms_cosem import utils

    return utils.parse_as_dlms_data(get(c, _attr(cls, ln, attr), access))


def _profile(c, ln, frm=None, to=None):
    from dlms_cosem.cosem.selective_access import CaptureObject, RangeDescriptor

    desc = None
    if frm is not None:
        desc = RangeDescriptor(
            restricting_object=CaptureObject(
                cosem_attribute=_attr(8, "0.0.1.0.0.255", 2), data_index=0
            ),
            from_value=frm,
            to_value=to,
        )
    rows = _value(c, 7, ln, 2, desc) or []
    out = []
    for r in rows:
        t = _dt(r[0])
        out.append([t.isoformat() if t else None] + list(r[1:]))
    return out


def _read_into(store, key, fn):
    """store[key] = fn(); a refusal is recorded in its place and the session goes on; any other
    failure is recorded too, then ends the session (the link is no longer trustworthy)."""
    try:
        store[key] = fn()
    except Exception as e:
        store[key] = failure(e)
        if not _refused(e):
            raise
        return False
    return True


def _register(c, ln):
    value = _value(c, 3, ln, 2)
    su = _value(c, 3, ln, 3)
    return {"value": value, "scaler": su[0], "unit": su[1]}


def session(args, res):
    """One association; fills the summary dict `res` as it goes (a failure leaves what was read
    so far in it). Raises on a failure that ends the session."""
    res.update(client=args.client, transport=args.transport)
    c, io = _client(args)
    try:
        c.connect()
        try:
            c.associate()
        except LinkError:
            raise
        except Exception as e:
            raise AssociationFailure("%s: %s" % (type(e).__name__, e)) from e
        _read_all(c, args, res)
        res["client_ic_end"] = c.client_invocation_counter
        c.release_association()
        c.disconnect()
    finally:
        io.disconnect()  # nothing left to do after a clean disconnect
    return res


def _clock_method(m):
    from dlms_cosem import cosem, enumerations

    return cosem.CosemMethod(
        enumerations.CosemInterface.CLOCK, cosem.Obis.from_string("0.0.1.0.0.255"), m
    )


def _read_all(s, args, res):
    from dlms_cosem import dlms_data
    from dlms_cosem import time as dtime

    res["conformance"] = str(s.dlms_connection.conformance)
    res["max_pdu"] = s.dlms_connection.max_pdu_size
    clock = _dt(_value(s, 8, "0.0.1.0.0.255", 2))
    res["clock"] = clock.isoformat()
    res["ldn"] = _value(s, 1, "0.0.42.0.0.255", 2).hex()
    regs = res["registers"] = {}
    names = REGISTERS + (PHASE_REGISTERS if args.phases == 3 else [])
    for ln in names:
        _read_into(regs, ln, lambda ln=ln: _register(s, ln))
    frm, to = args.frm, args.to
    if frm is not None or to is not None:
        frm = frm or RANGE_FIRST
        to = to or RANGE_LAST
        res["profile_range"] = [frm.isoformat(), to.isoformat()]
    box = {}
    if _read_into(box, "rows", lambda: _profile(s, "1.0.99.1.0.255", frm, to)):
        res["profile"] = box["rows"]
    else:
        res["profile_error"] = box["rows"]
    if args.range_check:
        a, b = args.range_check
        _read_into(res, "range", lambda: _profile(s, "1.0.99.1.0.255", a, b))
    if args.logs:
        logs = res["logs"] = {}
        for name, ln in LOGS.items():
            _read_into(logs, name, lambda ln=ln: _profile(s, ln))
    if args.try_write:
        r = s.set(
            _attr(8, "0.0.1.0.0.255", 2),
            dlms_data.OctetStringData(dtime.datetime_to_bytes(clock)).to_bytes(),
        )
        res["write_result"] = int(getattr(r, "result", -1))
    if args.sync:
        target = args.sync_to
        done = res["sync_methods"] = []
        if args.sync == "preset":
            start = target - dtm.timedelta(seconds=60)
            end = target + dtm.timedelta(seconds=60)
            param = dlms_data.DataStructure(
                [
                    dlms_data.OctetStringData(dtime.datetime_to_bytes(target)),
                    dlms_data.OctetStringData(dtime.datetime_to_bytes(start)),
                    dlms_data.OctetStringData(dtime.datetime_to_bytes(end)),
                ]
            ).to_bytes()
            s.action(_clock_method(5), param)
            done.append(5)
            s.action(_clock_method(4), dlms_data.IntegerData(0).to_bytes())
            done.append(4)
        else:
            delta = int((target - clock).total_seconds())
            s.action(_clock_method(6), dlms_data.LongData(delta).to_bytes())
            done.append(6)
        res["clock_after"] = _dt(_value(s, 8, "0.0.1.0.0.255", 2)).isoformat()


# ---------------------------------------------------------------- outputs


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["period_end_utc", "status", "ai_wh", "ae_wh", "ri_varh", "re_varh"])
        for r in rows:
            w.writerow(r)


def write_png(path, rows, width=960, height=360):
    """A plain line plot of the four channels (Pillow)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    colours = ((200, 0, 0), (0, 140, 0), (0, 0, 200), (160, 0, 160))
    n = len(rows)
    vmax = max([1] + [v for r in rows for v in r[2:6] if isinstance(v, int)])
    m = 30
    d.rectangle((m, m, width - m, height - m), outline=(0, 0, 0))
    for ch in range(4):
        pts = []
        for i, r in enumerate(rows):
            v = r[2 + ch]
            if not isinstance(v, int):
                continue
            x = m + (width - 2 * m) * i // max(1, n - 1)
            y = height - m - (height - 2 * m) * v // vmax
            pts.append((x, y))
        if len(pts) > 1:
            d.line(pts, fill=colours[ch], width=1)
        d.text(
            (m + 10 + 90 * ch, 8), ("AI Wh", "AE Wh", "RI varh", "RE varh")[ch], fill=colours[ch]
        )
    d.text((m, height - m + 8), "%d half hours, max %d" % (n, vmax), fill=(0, 0, 0))
    img.save(path)


def _quiet_client_logs():
    """dlms-cosem logs every frame through structlog at debug level; keep warnings only."""
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


# ---------------------------------------------------------------- command line


def utc_time(text):
    """An ISO date-time argument -> aware UTC datetime; no offset means UTC."""
    try:
        d = dtm.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            "%r is not an ISO date-time such as 2024-01-02T00:00 (UTC)" % text
        ) from None
    d = d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)
    if not RANGE_FIRST <= d <= RANGE_LAST:
        raise argparse.ArgumentTypeError("%s is outside the meter's calendar (2000-2099)" % text)
    return d


def utc_range(text):
    """'FROM,TO' -> (datetime, datetime)."""
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError("a range is FROM,TO (two ISO date-times), not %r" % text)
    return utc_time(parts[0]), utc_time(parts[1])


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=4059)
    p.add_argument("--transport", choices=("wrapper", "hdlc"), default="wrapper")
    p.add_argument("--client", type=int, choices=(16, 17, 1, 2), default=16)
    p.add_argument("--password", default="12345678")
    p.add_argument("--ek")
    p.add_argument("--ak")
    p.add_argument("--ic", type=int, default=1)
    p.add_argument("--max-pdu", type=int, default=1024)
    p.add_argument(
        "--phases", type=int, choices=(1, 3), default=1, help="3: also the per-phase registers"
    )
    p.add_argument(
        "--from",
        dest="frm",
        metavar="TIME",
        type=utc_time,
        help="profile rows ending at or after (UTC)",
    )
    p.add_argument(
        "--to", metavar="TIME", type=utc_time, help="profile rows ending at or before (UTC)"
    )
    p.add_argument(
        "--range-check", metavar="FROM,TO", type=utc_range, help="FROM,TO: a second range read"
    )
    p.add_argument("--logs", action="store_true")
    p.add_argument("--try-write", action="store_true")
    p.add_argument("--sync", choices=("preset", "shift"))
    p.add_argument(
        "--sync-to", metavar="TIME", type=utc_time, help="UTC ISO time to set (default: now)"
    )
    p.add_argument("--csv")
    p.add_argument("--png")
    p.add_argument("--json", action="store_true")
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--io-timeout", type=float, default=10)
    return p


def main(argv=None):
    p = build_parser()
    args = p.parse_args(argv)
    if args.frm is not None and args.to is not None and args.frm > args.to:
        p.error("--from %s is after --to %s" % (args.frm.isoformat(), args.to.isoformat()))
    if args.sync and args.sync_to is None:
        args.sync_to = dtm.datetime.now(UTC).replace(microsecond=0)
    _quiet_client_logs()
    res = {}
    box = {}

    def work():
        try:
            session(args, res)
        except BaseException as e:  # noqa: BLE001 - reported below
            box["error"] = "%s: %s" % (type(e).__name__, e)
            box["kind"] = error_kind(e)

    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join(args.timeout)
    if t.is_alive():
        msg = "timeout after %g s" % args.timeout
        if args.json:
            print(json.dumps({"error": msg, "error_kind": "timeout"}))
        print(msg, file=sys.stderr)
        return 2
    if "error" in box:
        if args.json:
            print(json.dumps(dict(res, error=box["error"], error_kind=box["kind"])))
        print(box["error"], file=sys.stderr)
        return 1
    rows = res.get("profile") or []
    if args.csv:
        write_csv(args.csv, rows)
    if args.png:
        write_png(args.png, rows)
    if args.json:
        print(json.dumps(res))
    else:
        print("clock", res["clock"])
        for ln, r in res["registers"].items():
            print(ln, r)
        if "profile_error" in res:
            print("profile", res["profile_error"])
        print("profile rows", len(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
