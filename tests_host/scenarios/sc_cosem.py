"""Scenarios for the COSEM application layer (firmware/cosem/{apdu,association,security,
objects,server}.py). They run under CPython and the MicroPython unix port and return plain
hex/ints. Meters are built on the virtual board and run for simulated hours/days so the
profile and the logs hold data; the client side is hand-written APDUs (the captures of
dlms.md); the third-party client tests are in tests_host/test_dlms_interop.py.
"""

import json

from firmware.cosem import association as asn
from firmware.cosem import axdr
from firmware.cosem.server import CosemServer
from lib import aes_gcm

EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
EK2 = bytes.fromhex("101112131415161718191A1B1C1D1E1F")
AK2 = bytes.fromhex("C0C1C2C3C4C5C6C7C8C9CACBCCCDCECF")
CLIENT_TITLE = b"DRSM1234"
REF_CONFORMANCE = 0x401E5D  # what the reference meter of the captures offered


def _h(b):
    return bytes(b).hex()


# ---------------------------------------------------------------- meters


def boot_meter(hours=0, tick_s=60, afe="ade7953", load="varied"):
    """A booted Meter on the virtual board after `hours` of simulated running (through the
    outages of the load program: the board powers down and boots again, as main.py does).
    -> (hw of the last boot, meter)."""
    import board
    from firmware import app

    hw = board.build(
        "sim",
        speed="max",
        display="none",
        days=hours / 24 if hours else 1e-6,
        tick_s=tick_s,
        load=load,
        afe=afe,
        dlms_port=0,  # the tests serve the meter themselves
        hdlc_port=0,
    )
    meter_app = None
    last = hw
    while hw is not None:
        last = hw
        meter_app = app.main(hw)
        hw = hw.next_boot()
    return last, meter_app.meter


# ---------------------------------------------------------------- client-side helpers


def aarq(sap_ctx, mech=0, password=None, title=CLIENT_TITLE, ui=None, ctos=None):
    body = bytearray()
    body += b"\xa1\x09\x06\x07\x60\x85\x74\x05\x08\x01" + bytes((sap_ctx,))
    if title is not None:
        body += b"\xa6\x0a\x04\x08" + title
    if mech:
        body += b"\x8a\x02\x07\x80\x8b\x07\x60\x85\x74\x05\x08\x02" + bytes((mech,))
    av = password if password is not None else ctos
    if av is not None:
        body += bytes((0xAC, len(av) + 2, 0x80, len(av))) + av
    if ui is None:
        ui = bytes.fromhex("01000000065f1f040060525f0400")
    body += bytes((0xBE, len(ui) + 2, 0x04, len(ui))) + ui
    return bytes((0x60, len(body))) + bytes(body)


def glo(ic, plain, ek=EK, ak=AK, title=CLIENT_TITLE, tag=0x21):
    body = aes_gcm.dlms_encrypt(0x30, title, ic, ek, ak, plain)
    return bytes((tag, 5 + len(body), 0x30)) + ic.to_bytes(4, "big") + body


def gglo(ic, plain, ek=EK, ak=AK, title=CLIENT_TITLE):
    body = aes_gcm.dlms_encrypt(0x30, title, ic, ek, ak, plain)
    n = 5 + len(body)
    ln = bytes((n,)) if n < 0x80 else bytes((0x81, n))
    return b"\xdb\x08" + title + ln + b"\x30" + ic.to_bytes(4, "big") + body


def open_gglo(resp, server_title, ek=EK, ak=AK):
    """Decrypt a general-glo-ciphering reply -> (ic, plain)."""
    pos = 10
    n = resp[pos]
    pos += 1
    if n & 0x80:
        k = n & 0x7F
        pos += k
    ic = int.from_bytes(resp[pos + 1 : pos + 5], "big")
    plain = aes_gcm.dlms_decrypt(0x30, server_title, ic, ek, ak, resp[pos + 5 :])
    return ic, plain


def get_req(cid, ln, attr, invoke=0xC1, sel=None):
    b = bytes((0xC0, 1, invoke)) + cid.to_bytes(2, "big") + ln + bytes((attr,))
    if sel is None:
        return b + b"\x00"
    return b + b"\x01" + bytes((sel[0],)) + axdr.encode(sel[1], 256)


def get_all(server, sap, req, conn=None, cipher=None):
    """GET with block reassembly -> (kind, value bytes or DAR int, blocks)."""
    resp = _send(server, sap, req, conn, cipher)
    if resp[1] == 1:
        if resp[3] == 1:
            return "dar", resp[4], 0
        return "data", resp[4:], 0
    data = bytearray()
    blocks = 0
    for _ in range(10000):
        last = resp[3]
        block = int.from_bytes(resp[4:8], "big")
        if resp[8] != 0:
            return "dar", resp[9], blocks
        n, pos = axdr.decode_length(resp, 9, len(resp))
        data += resp[pos : pos + n]
        blocks += 1
        if last:
            return "data", bytes(data), blocks
        resp = _send(
            server, sap, bytes((0xC0, 2, req[2])) + block.to_bytes(4, "big"), conn, cipher
        )
    raise ValueError("no end of block transfer")


def _send(server, sap, plain, conn, cipher):
    if cipher is None:
        return server.handle(sap, 1, plain, conn)
    ic = cipher["ic"]
    cipher["ic"] = ic + 1
    r = server.handle(sap, 1, gglo(ic, plain, cipher["ek"], cipher["ak"]), conn)
    if r[0] != 0xDB:
        return r
    _ic, p = open_gglo(r, server.security.title, cipher["ek"], cipher["ak"])
    return p


def hls_associate(server, sap=1, ic=1, ek=EK, ak=AK, ctos=b"CTOS2024NONCE!\n\n", conn=None):
    """Associate with HLS-GMAC; -> (aare hex, cipher state or None, action result)."""
    ui = glo(ic, bytes.fromhex("01000000065f1f040060525f0400"), ek, ak)
    r = server.handle(sap, 1, aarq(3, 5, ui=ui, ctos=ctos), conn)
    if r[0] != 0x61 or b"\xa2\x03\x02\x01\x00" not in r:
        return _h(r), None, None
    stoc_at = r.find(b"\xaa")
    stoc = r[stoc_at + 4 : stoc_at + 4 + r[stoc_at + 3]]
    tag = aes_gcm.hls_gmac(0x10, CLIENT_TITLE, ic + 1, ek, ak, stoc)
    f = b"\x10" + (ic + 1).to_bytes(4, "big") + tag
    act = bytes.fromhex("c301c0000f0000280000ff0101") + b"\x09\x11" + f
    cipher = {"ic": ic + 1, "ek": ek, "ak": ak}
    resp = _send(server, sap, act, conn, cipher)
    return _h(r), cipher, _h(resp)


# ---------------------------------------------------------------- scenarios


def hls_capture_replay(vectors_path):
    """dlms.md §7 (session s5): the server reproduces the captured AARE byte for byte and
    the plain ACTION response carrying f(CtoS); the outer ciphering uses the next own IC."""
    from firmware.store import RamFram

    with open(vectors_path) as f:
        v = json.load(f)
    s5 = None
    for s in v["sessions"]:
        if s["name"].startswith("s5"):
            s5 = s
    items = s5["items"]
    title = bytes.fromhex(v["keys"]["server_system_title"])
    stoc = bytes.fromhex("53544f4332303234534552564552210a")
    out = {}
    for conf in (REF_CONFORMANCE, asn.METER_CONFORMANCE):
        meter = _ram_meter(RamFram())  # a new meter: own IC and client IC start afresh
        srv = CosemServer(meter, system_title=title, rng=lambda n: stoc, conformance=conf)
        aare = srv.handle(1, 1, bytes.fromhex(items[0]["apdu"]))
        out["aare_%06x" % conf] = _h(aare)
        ui = aare[aare.find(b"\xbe") + 4 :]
        out["initiate_%06x" % conf] = _h(aes_gcm.dlms_decrypt(0x30, title, 1, EK, AK, ui[7:]))
        if conf == REF_CONFORMANCE:
            act = srv.handle(1, 1, bytes.fromhex(items[2]["apdu"]))
            ic, plain = open_gglo(act, title)
            out["action_ic"] = ic
            out["action_plain"] = _h(plain)
            get = srv.handle(1, 1, bytes.fromhex(items[4]["apdu"]))
            ic2, plain2 = open_gglo(get, title)
            out["get_ic"] = ic2
            out["get_plain_head"] = _h(plain2[:6])
            # The captured GET again: its IC (3) is not above the last accepted -> refused.
            out["replay"] = _h(srv.handle(1, 1, bytes.fromhex(items[4]["apdu"])))
    out["captured_aare"] = items[1]["apdu"]
    out["captured_action_plain"] = items[3]["plain_apdu"]
    return out


def _ram_meter(fram, start=8766 * 86400 + 12 * 3600):
    """A Meter over a RAM FRAM with a fixed RTC (no sim board): for codec scenarios."""
    from firmware.meter import Meter

    class Rtc:
        def __init__(self):
            from firmware import civil

            self.f = [0] * 7
            civil.to_fields(start, self.f, 2000)

        def read_into(self, f):
            for i in range(7):
                f[i] = self.f[i]

        def write(self, f):
            for i in range(7):
                self.f[i] = f[i]

        def time_lost(self):
            return False

        def clear_lost(self):
            pass

    m = Meter(1, (1, 1), fram, Rtc(), lambda: 0)
    m.boot()
    return m


def _filled_meter(periods=100, fram=None):
    """RAM meter whose profile holds `periods` closed half hours from the clock's time on
    (the RAM meter's clock stands still; the profile is fed directly)."""
    from firmware.store import RamFram

    fram = fram or RamFram()
    m = _ram_meter(fram)
    now = m.clock.now()
    p0 = now // 1800
    prof = m.profile
    ratio = prof.ratio
    for k in range(periods + 1):
        t = (p0 + k) * 1800 + 5
        prof.accrue(t, (100 + k) * ratio, k * ratio, 7 * ratio, 3 * ratio)
        m.store.commit_registers()
    m.logs.log(0, 0x8145, 2, now - 60)
    m.logs.log(2, 0x8F35, 30, now - 30)
    return m


def _public(srv, sap=16, conn=None, password=None):
    mech = 1 if password is not None else 0
    return server_handle(srv, sap, aarq(1, mech, password=password), conn)


def server_handle(srv, sap, data, conn=None):
    return srv.handle(sap, 1, data, conn)


LN_CLOCK = bytes((0, 0, 1, 0, 0, 255))
LN_AI = bytes((1, 0, 1, 8, 0, 255))
LN_HH = bytes((1, 0, 99, 1, 0, 255))
LN_SEC = bytes((0, 0, 99, 98, 1, 255))
LN_MPAN = bytes((1, 0, 0, 0, 2, 255))


def services_and_access():
    """Levels, data-access-results, with-list, by-entry, SET/ACTION rights, exceptions."""
    m = _filled_meter(60)
    srv = CosemServer(m, rng=lambda n: b"S" * n)
    out = {}
    out["no_assoc"] = _h(srv.handle(16, 1, get_req(8, LN_CLOCK, 2)))
    out["aare_public"] = _h(_public(srv))
    out["clock_public"] = get_all(srv, 16, get_req(8, LN_CLOCK, 2))[0]
    out["ai_value"] = _h(get_all(srv, 16, get_req(3, LN_AI, 2))[1])
    out["ai_scaler"] = _h(get_all(srv, 16, get_req(3, LN_AI, 3))[1])
    out["hh_public"] = get_all(srv, 16, get_req(7, LN_HH, 2))[0]
    out["undefined"] = get_all(srv, 16, get_req(3, b"\x01\x00\x63\x63\x63\xff", 2))[1]
    out["class_mismatch"] = get_all(srv, 16, get_req(1, LN_AI, 2))[1]
    out["no_attr"] = get_all(srv, 16, get_req(3, LN_AI, 9))[1]
    out["set_public"] = _h(
        srv.handle(
            16,
            1,
            bytes.fromhex("c101c1000800000100") + b"\x00\xff\x02\x00" + b"\x09\x0c" + bytes(12),
        )
    )
    out["next_without"] = _h(srv.handle(16, 1, bytes.fromhex("c002c100000001")))
    out["malformed"] = _h(srv.handle(16, 1, bytes.fromhex("c001c10003")))
    out["unknown_service"] = _h(srv.handle(16, 1, bytes.fromhex("c10201")))
    out["plain_glo"] = _h(srv.handle(16, 1, bytes.fromhex("db0801020304050607081030")))
    wl = (
        bytes.fromhex("c003c102")
        + b"\x00\x03"
        + LN_AI
        + b"\x02\x00"
        + b"\x00\x07"
        + LN_HH
        + b"\x07\x00"
    )
    out["with_list_public"] = _h(srv.handle(16, 1, wl))
    # reader (LLS)
    out["aare_bad_pw"] = _h(_public(srv, 17, password=b"nope"))
    out["aare_reader"] = _h(_public(srv, 17, password=b"12345678"))
    out["with_list_reader"] = _h(srv.handle(17, 1, wl))
    kind, data, blocks = get_all(srv, 17, get_req(7, LN_HH, 2))
    out["hh_rows"] = len(axdr.decode_all(data)[1])
    out["hh_blocks"] = blocks
    out["hh_entries"] = _h(get_all(srv, 17, get_req(7, LN_HH, 7))[1])
    sel = (
        axdr.STRUCTURE,
        [
            (axdr.DOUBLE_LONG_UNSIGNED, 2),
            (axdr.DOUBLE_LONG_UNSIGNED, 3),
            (axdr.LONG_UNSIGNED, 3),
            (axdr.LONG_UNSIGNED, 4),
        ],
    )
    k, d, _b = get_all(srv, 17, get_req(7, LN_HH, 2, sel=(2, sel)))
    out["by_entry"] = axdr.decode_all(d)[1]
    out["set_reader"] = _h(
        srv.handle(17, 1, bytes.fromhex("c101c100010100000002ff0200") + b"\x09\x03abc")
    )
    out["action_reader"] = _h(
        srv.handle(17, 1, bytes.fromhex("c301c100080000010000ff0601") + b"\x10\x00\x05")
    )
    out["rlre"] = _h(srv.handle(17, 1, bytes.fromhex("6203800100")))
    out["after_release"] = _h(srv.handle(17, 1, get_req(8, LN_CLOCK, 2)))
    # operator (HLS, key set 0)
    aare, cipher, act = hls_associate(srv, 1, ic=1)
    out["hls_action"] = act[:12]
    out["set_mpan_operator"] = _h(
        _send(srv, 1, bytes.fromhex("c101c100010100000002ff0200") + b"\x09\x03abc", None, cipher)
    )
    out["shift_operator"] = _h(
        _send(srv, 1, bytes.fromhex("c301c100080000010000ff0601") + b"\x10\x00\x05", None, cipher)
    )
    out["plain_in_ciphered"] = _h(srv.handle(1, 1, get_req(8, LN_CLOCK, 2)))
    replay = gglo(cipher["ic"] - 1, get_req(8, LN_CLOCK, 2))
    out["replay"] = _h(srv.handle(1, 1, replay))[:6]
    bad = bytearray(gglo(cipher["ic"] + 5, get_req(8, LN_CLOCK, 2)))
    bad[-1] ^= 1
    out["bad_tag"] = _h(srv.handle(1, 1, bytes(bad)))
    # config (HLS, key set 1)
    aare2, cipher2, act2 = hls_associate(srv, 2, ic=1, ek=EK2, ak=AK2)
    out["set_mpan_config"] = _h(
        _send(
            srv,
            2,
            bytes.fromhex("c101c100010100000002ff0200") + b"\x09\x0d1234567890123",
            None,
            cipher2,
        )
    )
    out["mpan_now"] = _h(get_all(srv, 2, get_req(1, LN_MPAN, 2), None, cipher2)[1])
    out["wrong_keys"] = hls_associate(srv, 2, ic=100, ek=EK, ak=AK)[0]
    out["security_log"] = [e[2] for e in m.logs.entries(1)]
    out["event_log_tail"] = [e[2] for e in m.logs.entries(0)][-4:]
    out["internal_errors"] = srv.internal_errors
    return out


def lockout_survives_power_cut():
    """T11: LOCK_AFTER wrong passwords lock SAP 17; a reboot over the same FRAM keeps the
    lock; the own IC resumes above the reserved block; the client IC high-water mark holds."""
    from firmware.store import RamFram

    fram = RamFram()
    m = _ram_meter(fram)
    srv = CosemServer(m)
    res = []
    for _ in range(5):
        res.append(_h(_public(srv, 17, password=b"bad")))
    out = {"fails": res[-1], "locked": srv.security.locked(17)}
    out["right_pw_while_locked"] = _h(_public(srv, 17, password=b"12345678"))
    aare, cipher, act = hls_associate(srv, 1, ic=10)
    ic_used = int(aare[aare.find("be230421281f30") + 14 : aare.find("be230421281f30") + 22], 16)
    out["first_own_ic"] = ic_used
    # power cut: a new meter and server over the same FRAM
    m2 = _ram_meter(fram)
    srv2 = CosemServer(m2)
    out["locked_after_reboot"] = srv2.security.locked(17)
    out["right_pw_after_reboot"] = _h(_public(srv2, 17, password=b"12345678"))
    out["old_ic_after_reboot"] = hls_associate(srv2, 1, ic=11)[0]
    aare2, c2, _a = hls_associate(srv2, 1, ic=20)
    at = aare2.find("be230421281f30") + 14
    out["own_ic_after_reboot"] = int(aare2[at : at + 8], 16)
    out["security_log"] = [e[2] for e in m2.logs.entries(1)]
    return out


def read_everything_leaves_fram_identical():
    """T8 / issue 5 item 5: read every attribute of every object at every level (with
    selective access on the profiles); the FRAM image is byte-identical afterwards except the
    'seccount' record (accepted client ICs, own IC reservations) of ciphered sessions."""
    from firmware.store import RamFram

    fram = RamFram()
    m = _filled_meter(120, fram)
    srv = CosemServer(m)
    g = m.store.geo
    a, b, n = g.config["seccount"]
    span = [(a, a + n + 10), (b, b + n + 10)]

    def masked():
        img = bytearray(fram.image)
        for lo, hi in span:
            for i in range(lo, hi):
                img[i] = 0
        return bytes(img)

    before_all = bytes(fram.image)
    before = masked()
    reads = 0
    results = {}
    for sap in (16, 17, 1, 2):
        if sap == 16:
            _public(srv)
            cipher = None
        elif sap == 17:
            _public(srv, 17, password=b"12345678")
            cipher = None
        else:
            k = (EK, AK) if sap == 1 else (EK2, AK2)
            _aare, cipher, _act = hls_associate(srv, sap, ic=1000 * sap, ek=k[0], ak=k[1])
        ok = 0
        for obj in srv.objects.order:
            for attr in range(1, len(obj.attrs) + 1):
                sels = [None]
                if 2 in obj.selectors(attr):
                    sels.append(
                        (
                            2,
                            (
                                axdr.STRUCTURE,
                                [
                                    (axdr.DOUBLE_LONG_UNSIGNED, 1),
                                    (axdr.DOUBLE_LONG_UNSIGNED, 0),
                                    (axdr.LONG_UNSIGNED, 1),
                                    (axdr.LONG_UNSIGNED, 0),
                                ],
                            ),
                        )
                    )
                for sel in sels:
                    kind, v, _bl = get_all(
                        srv, sap, get_req(obj.class_id, obj.ln, attr, sel=sel), None, cipher
                    )
                    reads += 1
                    if kind == "data":
                        ok += 1
        results[str(sap)] = ok
        srv.handle(sap, 1, bytes.fromhex("6203800100"))
        if sap == 17:
            results["unciphered_identical"] = bytes(fram.image) == before_all
    return {
        "reads": reads,
        "readable": results,
        "identical_except_seccount": masked() == before,
        "internal_errors": srv.internal_errors,
    }


def measure(rows=960, gets=500):
    """Bench figures: heap per association (HLS), GET latency, a 960-row profile read."""
    import gc
    import time

    m = _filled_meter(rows)
    srv = CosemServer(m)
    t_ms = time.ticks_ms if hasattr(time, "ticks_ms") else (lambda: int(time.time() * 1000))
    out = {}
    gc.collect()
    before = gc.mem_alloc() if hasattr(gc, "mem_alloc") else 0
    _aare, cipher, _act = hls_associate(srv, 1, ic=1)
    gc.collect()
    after = gc.mem_alloc() if hasattr(gc, "mem_alloc") else 0
    out["assoc_heap_bytes"] = after - before
    _public(srv, 17, password=b"12345678")
    req = get_req(3, LN_AI, 2)
    t0 = t_ms()
    for _ in range(gets):
        srv.handle(17, 1, req)
    out["get_ms_x100"] = (t_ms() - t0) * 100 // gets
    t0 = t_ms()
    kind, data, blocks = get_all(srv, 17, get_req(7, LN_HH, 2))
    out["profile_ms"] = t_ms() - t0
    out["profile_rows"] = len(axdr.decode_all(data)[1])
    out["profile_blocks"] = blocks
    t0 = t_ms()
    for _ in range(10):
        _send(srv, 1, req, None, cipher)
    out["ciphered_get_ms_x100"] = (t_ms() - t0) * 10
    return out


def uart_session():
    """firmware/comms.serve_uart on a loop-back UART: SNRM -> UA, AARQ -> AARE, as captured."""
    import asyncio

    from firmware import comms
    from firmware.cosem import hdlc

    srv = CosemServer(_filled_meter(5))

    class Uart:
        def __init__(self):
            self.rx = bytearray()
            self.tx = bytearray()

        def any(self):
            return len(self.rx)

        def readinto(self, b, n):
            n = min(n, len(self.rx))
            b[:n] = self.rx[:n]
            self.rx = self.rx[n:]
            return n

        def write(self, b):
            self.tx.extend(b)
            return len(b)

    u = Uart()
    u.rx.extend(b"\x7e\x00garbage\x7e")  # noise first: dropped by the deframer
    u.rx.extend(hdlc.encode_frame(b"\x03", b"\x21", hdlc.u_control(hdlc.SNRM)))
    aarq_ = bytes.fromhex("601da109060760857405080101be10040e01000000065f1f0400401e5dffff")
    u.rx.extend(hdlc.encode_frame(b"\x03", b"\x21", hdlc.i_control(0, 0), b"\xe6\xe6\x00" + aarq_))

    async def main():
        t = asyncio.create_task(comms.serve_uart(u, srv))
        await asyncio.sleep(0.1)
        t.cancel()
        try:
            await t
        except asyncio.CancelledError:
            pass

    asyncio.run(main())
    return {"tx": _h(u.tx), "associations": srv.associations(), "errors": comms.STATS["errors"]}


def smets_channel_logs(periods=5000):
    """The per-channel HH logs: the import log keeps what the 4-channel ring has dropped."""
    m = _filled_meter(periods)
    srv = CosemServer(m)
    _public(srv, 17, password=b"12345678")
    out = {"newest": m.profile.newest(), "oldest4": m.profile.oldest(4)}
    for name, c in (("import", 0), ("export", 1), ("rimport", 2), ("rexport", 3)):
        ln = bytes((0, 0, 99, 1, c, 255))
        kind, data, _blocks = get_all(srv, 17, get_req(7, ln, 2))
        rows = axdr.decode_all(data)[1] if kind == "data" else []
        first = rows[0][1] if rows else None
        last = rows[-1][1] if rows else None
        out[name] = {
            "kind": kind,
            "rows": len(rows),
            "columns": len(first) if first else 0,
            "first_value": first[2][1] if first else None,
            "last_value": last[2][1] if last else None,
        }
        kind, data, _ = get_all(srv, 17, get_req(7, ln, 7))  # entries in use
        out[name]["entries"] = axdr.decode_all(data)[1] if kind == "data" else None
    return out
