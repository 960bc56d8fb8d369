"""Read a meter (or the virtual board) over DLMS/COSEM with the PyPI client dlms-cosem.

    .venv/bin/python tools/read.py                      # 127.0.0.1:4059, wrapper, client 16
    .venv/bin/python tools/read.py --client 17 --csv hh.csv --png hh.png
    .venv/bin/python tools/read.py --transport hdlc --port 4061 --client 1 --ic 1000
    .venv/bin/python tools/read.py --from 2024-01-02T00:00 --to 2024-01-02T12:00 --csv x.csv

Reads the clock, every register with its scaler/unit, the HH profile 1-0:99.1.0.255 (all, or
by range with --from/--to, UTC) and, with --logs, the three event logs. Writes the profile
as CSV (period end UTC, status, AI Wh, AE Wh, RI varh, RE varh) and a PNG plot (Pillow).
Levels: --client 16 public, 17 reader (LLS, --password), 1 operator / 2 configuration
(HLS-GMAC, --ek/--ak, --ic = first client invocation counter: it must be above every IC the
meter accepted before). --sync preset|shift synchronises the clock to this host (operator
level); --try-write attempts a clock write and reports the result. --json prints a summary.

The whole session runs in a worker thread with a hard deadline (--timeout, default 60 s):
dlms-cosem can spin forever on a socket the peer closed (dlms.md §9). Exit status: 0 ok,
1 a DLMS/IO error, 2 timeout.
"""

import argparse
import csv
import datetime as dtm
import json
import sys
import threading

EK = "000102030405060708090A0B0C0D0E0F"
AK = "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"
EK2 = "101112131415161718191A1B1C1D1E1F"
AK2 = "C0C1C2C3C4C5C6C7C8C9CACBCCCDCECF"
UTC = dtm.timezone.utc
EPOCH = dtm.datetime(2000, 1, 1, tzinfo=UTC)

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
PHASE_REGISTERS = ["1.0.%d.8.0.255" % (c + q) for c in (21, 41, 61) for q in range(4)]
LOGS = {"event": "0.0.99.98.0.255", "security": "0.0.99.98.1.255", "power": "0.0.99.98.4.255"}


def _dt(raw):
    from dlms_cosem import time as dtime

    if raw[0] == 0xFF and raw[1] == 0xFF:
        return None
    d, _status = dtime.datetime_from_bytes(bytes(raw))
    return d.replace(tzinfo=UTC) if d.tzinfo is None else d


def _client(args):
    from dlms_cosem import security
    from dlms_cosem.client import DlmsClient
    from dlms_cosem.io import BlockingTcpIO, HdlcTransport, TcpTransport

    io = BlockingTcpIO(host=args.host, port=args.port, timeout=args.io_timeout)
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
    return DlmsClient(
        transport=transport,
        authentication=auth,
        max_pdu_size=args.max_pdu,
        client_system_title=b"DRSM1234",
        **kw,
    )


def _attr(cls, ln, attr):
    from dlms_cosem import cosem, enumerations

    return cosem.CosemAttribute(
        interface=enumerations.CosemInterface(cls),
        instance=cosem.Obis.from_string(ln),
        attribute=attr,
    )


def _profile(c, ln, frm=None, to=None):
    from dlms_cosem import utils
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
    raw = c.get(_attr(7, ln, 2), access_descriptor=desc)
    rows = utils.parse_as_dlms_data(raw) or []
    out = []
    for r in rows:
        t = _dt(r[0])
        out.append([t.isoformat() if t else None] + list(r[1:]))
    return out


def session(args):
    """One association: -> summary dict. Raises on DLMS errors."""
    from dlms_cosem import cosem, dlms_data, enumerations, utils
    from dlms_cosem import time as dtime

    res = {"client": args.client, "transport": args.transport}
    c = _client(args)
    with c.session() as s:
        res["conformance"] = str(s.dlms_connection.conformance)
        res["max_pdu"] = s.dlms_connection.max_pdu_size
        clock = _dt(utils.parse_as_dlms_data(s.get(_attr(8, "0.0.1.0.0.255", 2))))
        res["clock"] = clock.isoformat()
        res["ldn"] = utils.parse_as_dlms_data(s.get(_attr(1, "0.0.42.0.0.255", 2))).hex()
        regs = {}
        names = REGISTERS + (PHASE_REGISTERS if args.phases == 3 else [])
        for ln in names:
            try:
                value = utils.parse_as_dlms_data(s.get(_attr(3, ln, 2)))
                su = utils.parse_as_dlms_data(s.get(_attr(3, ln, 3)))
            except Exception as e:  # noqa: BLE001 - a denied read is a result here
                regs[ln] = {"error": str(e)}
                continue
            regs[ln] = {"value": value, "scaler": su[0], "unit": su[1]}
        res["registers"] = regs
        try:
            frm = to = None
            if args.frm:
                frm = dtm.datetime.fromisoformat(args.frm).replace(tzinfo=UTC)
                to = dtm.datetime.fromisoformat(args.to).replace(tzinfo=UTC)
            res["profile"] = _profile(s, "1.0.99.1.0.255", frm, to)
        except Exception as e:  # noqa: BLE001 - denied at the public level
            res["profile_error"] = str(e)
        if args.range_check:
            a, b = args.range_check.split(",")
            res["range"] = _profile(
                s,
                "1.0.99.1.0.255",
                dtm.datetime.fromisoformat(a).replace(tzinfo=UTC),
                dtm.datetime.fromisoformat(b).replace(tzinfo=UTC),
            )
        if args.logs:
            logs = {}
            for name, ln in LOGS.items():
                try:
                    logs[name] = _profile(s, ln)
                except Exception as e:  # noqa: BLE001
                    logs[name] = {"error": str(e)}
            res["logs"] = logs
        if args.try_write:
            r = s.set(
                _attr(8, "0.0.1.0.0.255", 2),
                dlms_data.OctetStringData(dtime.datetime_to_bytes(clock)).to_bytes(),
            )
            res["write_result"] = int(getattr(r, "result", -1))
        if args.sync:
            target = dtm.datetime.fromisoformat(args.sync_to).replace(tzinfo=UTC)
            method_ok = []
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
                s.action(
                    cosem.CosemMethod(
                        enumerations.CosemInterface.CLOCK,
                        cosem.Obis.from_string("0.0.1.0.0.255"),
                        5,
                    ),
                    param,
                )
                method_ok.append(5)
                s.action(
                    cosem.CosemMethod(
                        enumerations.CosemInterface.CLOCK,
                        cosem.Obis.from_string("0.0.1.0.0.255"),
                        4,
                    ),
                    dlms_data.IntegerData(0).to_bytes(),
                )
                method_ok.append(4)
            else:
                delta = int((target - clock).total_seconds())
                s.action(
                    cosem.CosemMethod(
                        enumerations.CosemInterface.CLOCK,
                        cosem.Obis.from_string("0.0.1.0.0.255"),
                        6,
                    ),
                    dlms_data.LongData(delta).to_bytes(),
                )
                method_ok.append(6)
            res["sync_methods"] = method_ok
            res["clock_after"] = _dt(
                utils.parse_as_dlms_data(s.get(_attr(8, "0.0.1.0.0.255", 2)))
            ).isoformat()
        res["client_ic_end"] = s.client_invocation_counter
    return res


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


def main(argv=None):
    _quiet_client_logs()
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
    p.add_argument("--phases", type=int, default=1)
    p.add_argument("--from", dest="frm")
    p.add_argument("--to")
    p.add_argument("--range-check")
    p.add_argument("--logs", action="store_true")
    p.add_argument("--try-write", action="store_true")
    p.add_argument("--sync", choices=("preset", "shift"))
    p.add_argument("--sync-to", help="UTC ISO time to set (default: now)")
    p.add_argument("--csv")
    p.add_argument("--png")
    p.add_argument("--json", action="store_true")
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--io-timeout", type=float, default=10)
    args = p.parse_args(argv)
    if args.sync and not args.sync_to:
        args.sync_to = dtm.datetime.now(UTC).replace(tzinfo=None, microsecond=0).isoformat()
    box = {}

    def work():
        try:
            box["result"] = session(args)
        except BaseException as e:  # noqa: BLE001 - reported below
            box["error"] = "%s: %s" % (type(e).__name__, e)

    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join(args.timeout)
    if t.is_alive():
        print("timeout after %.0f s" % args.timeout, file=sys.stderr)
        return 2
    if "error" in box:
        if args.json:
            print(json.dumps({"error": box["error"]}))
        print(box["error"], file=sys.stderr)
        return 1
    res = box["result"]
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
        print("profile rows", len(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
