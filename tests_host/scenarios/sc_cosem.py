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


def _entry_sel(fe, te, fv, tv):
    """Selective access by entry (selector 2): entries fe..te (0 = last), columns fv..tv."""
    return (
        2,
        (
            axdr.STRUCTURE,
            [
                (axdr.DOUBLE_LONG_UNSIGNED, fe),
                (axdr.DOUBLE_LONG_UNSIGNED, te),
                (axdr.LONG_UNSIGNED, fv),
                (axdr.LONG_UNSIGNED, tv),
            ],
        ),
    )


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


def _ram_meter(fram, start=8766 * 86400 + 12 * 3600, ticks=None, phases=1):
    """A Meter over a RAM FRAM with a fixed RTC (no sim board): for codec scenarios. The
    clock stands still unless `ticks` (a callable -> ms) moves it."""
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

    m = Meter(phases, (1, 1), fram, Rtc(), ticks if ticks is not None else (lambda: 0))
    m.boot()
    return m


def _filled_meter(periods=100, fram=None, phases=1):
    """RAM meter whose profile holds `periods` closed half hours from the clock's time on
    (the RAM meter's clock stands still; the profile is fed directly). A 3-phase meter also
    gets distinct per-phase register values: 3 windows of counts through the accumulator
    (phase p, quadrant q: 4 p + q + 1 Wh a window, 1 count = 1 uWh), committed as a tick
    would."""
    from array import array

    from firmware.store import RamFram

    fram = fram or RamFram()
    m = _ram_meter(fram, phases=phases)
    now = m.clock.now()
    if phases == 3:
        counts = array("l", [(i + 1) * 1_000_000 for i in range(12)])
        for _ in range(3):
            m.acc.on_tick(counts, True)
        m._save_tick_state(now)
        m.store.commit_registers()
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


def _associate_at(srv, sap):
    """Open an association at level `sap`: 16 public, 17 LLS, 1 and 2 HLS-GMAC with their
    own key sets (client IC starting at 1000 x sap). -> the cipher state, None unciphered."""
    if sap == 16:
        _public(srv)
        return None
    if sap == 17:
        _public(srv, 17, password=b"12345678")
        return None
    ek, ak = (EK, AK) if sap == 1 else (EK2, AK2)
    return hls_associate(srv, sap, ic=1000 * sap, ek=ek, ak=ak)[1]


def server_handle(srv, sap, data, conn=None):
    return srv.handle(sap, 1, data, conn)


LN_CLOCK = bytes((0, 0, 1, 0, 0, 255))
LN_AI = bytes((1, 0, 1, 8, 0, 255))
LN_HH = bytes((1, 0, 99, 1, 0, 255))
LN_SEC = bytes((0, 0, 99, 98, 1, 255))
LN_MPAN = bytes((1, 0, 0, 0, 2, 255))
LN_ASSOC = bytes((0, 0, 40, 0, 0, 255))


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
    k, d, _b = get_all(srv, 17, get_req(7, LN_HH, 2, sel=_entry_sel(2, 3, 3, 4)))
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
        cipher = _associate_at(srv, sap)
        ok = 0
        for obj in srv.objects.order:
            for attr in range(1, len(obj.attrs) + 1):
                sels = [None]
                if 2 in obj.selectors(attr):
                    sels.append(_entry_sel(1, 0, 1, 0))
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
    """firmware/comms.serve_uart on the virtual board's UART (hal/sim/machine.UART, the same
    class board/sim.py would wire): SNRM -> UA, AARQ -> AARE, as captured."""
    import asyncio

    from firmware import comms
    from firmware.cosem import hdlc
    from hal.sim.machine import UART

    srv = CosemServer(_filled_meter(5))
    u = UART(1, baudrate=9600, rxbuf=1024)
    u.peer_write(b"\x7e\x00garbage\x7e")  # noise first: dropped by the deframer
    u.peer_write(hdlc.encode_frame(b"\x03", b"\x21", hdlc.u_control(hdlc.SNRM)))
    aarq_ = bytes.fromhex("601da109060760857405080101be10040e01000000065f1f0400401e5dffff")
    u.peer_write(
        hdlc.encode_frame(b"\x03", b"\x21", hdlc.i_control(0, 0), b"\xe6\xe6\x00" + aarq_)
    )
    tx = bytearray()

    async def main():
        t = asyncio.create_task(comms.serve_uart(u, srv))
        await asyncio.sleep(0.1)
        tx.extend(u.peer_read())
        t.cancel()
        try:
            await t
        except asyncio.CancelledError:
            pass

    asyncio.run(main())
    return {
        "tx": _h(tx),
        "associations": srv.associations(),
        "errors": comms.STATS["errors"],
        "overruns": u.overruns,
    }


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


def hdlc_rnr():
    """IEC 62056-46 / ISO/IEC 13239 RNR over a real COSEM server: a polled RNR is answered
    with RR F=1 (current N(R)), an unpolled one with nothing; the segment being sent is held
    until the client's RR (or repeated when that RR asks for it again)."""
    from firmware.cosem import hdlc

    srv = CosemServer(_filled_meter(10))
    sent = []
    link = hdlc.HdlcServer(lambda mv: sent.append(bytes(mv)), srv.handle)
    c = b"\x21"  # client SAP 16
    s = b"\x03"  # logical device 1, 1-byte form

    def run(control, info=b""):
        n0 = len(sent)
        link.feed(hdlc.encode_frame(s, c, control, info))
        return [_h(f) for f in sent[n0:]]

    def info_of(frame_hex):
        b = bytes.fromhex(frame_hex)
        return hdlc.decode_frame(b, 1, len(b) - 1).info

    out = {}
    run(hdlc.u_control(hdlc.SNRM))
    run(hdlc.i_control(0, 0), hdlc.LLC_REQUEST + aarq(1))
    # HH profile entries 1..6, all columns: about 240 bytes -> two segments at 128.
    req = get_req(7, LN_HH, 2, sel=_entry_sel(1, 6, 1, 0))
    first = run(hdlc.i_control(1, 1), hdlc.LLC_REQUEST + req)
    out["first"] = [hdlc.describe_control(bytes.fromhex(f)[5]) for f in first]
    out["rnr_poll"] = run(hdlc.s_control(hdlc.RNR, 2, 1))
    out["rnr_no_poll"] = run(hdlc.s_control(hdlc.RNR, 2, 0))
    out["rnr_poll_again"] = run(hdlc.s_control(hdlc.RNR, 2, 1))
    # RNR N(R)=1: the client has not received our N(S)=1 and is busy: still only RR F=1 ...
    out["rnr_poll_nr1"] = run(hdlc.s_control(hdlc.RNR, 1, 1))
    # ... and its RR N(R)=1 then gets that segment again, byte for byte.
    out["rr_repeat_same"] = run(hdlc.s_control(hdlc.RR, 1, 1)) == first
    segs = [info_of(first[0])]
    rest = []
    for _ in range(10):
        got = run(hdlc.s_control(hdlc.RR, 2 + len(rest), 1))
        rest.append([hdlc.describe_control(bytes.fromhex(f)[5]) for f in got])
        segs.append(info_of(got[0]))
        if not bytes.fromhex(got[0])[1] & 0x08:  # last segment (S = 0)
            break
    out["after_rr"] = rest
    out["segments"] = [len(x) for x in segs]
    out["reassembled_ok"] = b"".join(segs) == hdlc.LLC_RESPONSE + srv.handle(16, 1, req)
    # Nothing pending any more: a polled RNR is still answered (RR F=1, N(R)=2).
    out["rnr_idle"] = run(hdlc.s_control(hdlc.RNR, 2 + len(rest), 1))
    out["vs_vr"] = [link.vs, link.vr]
    return out


INITIATE = bytes.fromhex("01000000065f1f040060525f0400")
CTOS = b"CTOS2024NONCE!\n\n"


def open_glo(resp, server_title, ek=EK, ak=AK):
    """Decrypt a service-specific glo reply `tag len 30 IC ct tag12` -> (tag, sc, ic, plain)."""
    n, pos = axdr.decode_length(resp, 1, len(resp))
    sc = resp[pos]
    ic = int.from_bytes(resp[pos + 1 : pos + 5], "big")
    plain = aes_gcm.dlms_decrypt(sc, server_title, ic, ek, ak, resp[pos + 5 : pos + n])
    return [resp[0], sc, ic, _h(plain)]


def _hls_with(srv, sap, ic, ek, ak, form=0xCB, conn=None):
    """AARQ + reply_to_HLS where the ACTION goes in `form` (0xCB glo-action-request, as
    Gurux sends it, or 0xDB). -> (AARE accepted?, the raw reply to the ACTION)."""
    r = srv.handle(sap, 1, aarq(3, 5, ui=glo(ic, INITIATE, ek, ak), ctos=CTOS), conn)
    if b"\xa2\x03\x02\x01\x00" not in r:
        return False, r
    at = r.find(b"\xaa")
    stoc = r[at + 4 : at + 4 + r[at + 3]]
    f = (
        b"\x10"
        + (ic + 1).to_bytes(4, "big")
        + aes_gcm.hls_gmac(0x10, CLIENT_TITLE, ic + 1, ek, ak, stoc)
    )
    act = bytes.fromhex("c301c0000f0000280000ff0101") + b"\x09\x11" + f
    if form == 0xDB:
        return True, srv.handle(sap, 1, gglo(ic + 1, act, ek, ak), conn)
    return True, srv.handle(sap, 1, glo(ic + 1, act, ek, ak, tag=form), conn)


def glo_service_forms():
    """Service-specific ciphering (IEC 62056-5-3; dlms.md §6): glo-get/set/action-request
    (C8/C9/CB) are answered as glo-get/set/action-response (CC/CD/CF) under the meter's next
    own IC; a glo tag around another service, another SC, ded-* (no dedicated key here) and
    general-ded/general-ciphering are refused; protected APDUs in a plain association too."""
    m = _filled_meter(10)
    srv = CosemServer(m, rng=lambda n: b"S" * n)
    title = srv.security.title
    out = {}
    ok, r = _hls_with(srv, 1, 1, EK, AK, 0xCB)
    out["hls_cb"] = open_glo(r, title)  # own IC 1 went to the AARE, 2 to f(CtoS)
    out["hls_cb"][3] = out["hls_cb"][3][:12]
    out["get_cc"] = open_glo(srv.handle(1, 1, glo(3, get_req(8, LN_CLOCK, 2), tag=0xC8)), title)
    out["get_ai_cc"] = open_glo(srv.handle(1, 1, glo(4, get_req(3, LN_AI, 3), tag=0xC8)), title)
    shift = bytes.fromhex("c301c100080000010000ff0601") + b"\x10\x00\x05"
    out["action_cf"] = open_glo(srv.handle(1, 1, glo(5, shift, tag=0xCB)), title)
    set_mpan = bytes.fromhex("c101c100010100000002ff0200") + b"\x09\x03abc"
    out["set_cd_operator"] = open_glo(srv.handle(1, 1, glo(6, set_mpan, tag=0xC9)), title)
    log0 = len(list(m.logs.entries(1)))
    bad = {}
    # glo-get-request around a SET, glo-set-request around a GET: authentic but inconsistent
    bad["c8_with_set"] = srv.handle(1, 1, glo(7, set_mpan, tag=0xC8))
    bad["c9_with_get"] = srv.handle(1, 1, glo(8, get_req(8, LN_CLOCK, 2), tag=0xC9))
    # SC 0x10 (authentication only) in a glo-get-request: only 0x30 is accepted
    body = aes_gcm.dlms_encrypt(0x10, CLIENT_TITLE, 9, EK, AK, get_req(8, LN_CLOCK, 2))
    bad["c8_sc10"] = srv.handle(
        1, 1, bytes((0xC8, 5 + len(body), 0x10)) + b"\x00\x00\x00\x09" + body
    )
    # ded-get/set/action-request (D0/D1/D3) ciphered as if EK were a dedicated key
    for tag, plain in ((0xD0, get_req(8, LN_CLOCK, 2)), (0xD1, set_mpan), (0xD3, shift)):
        bad["ded_%02x" % tag] = srv.handle(1, 1, glo(10 + tag - 0xD0, plain, tag=tag))
    # general-ded-ciphering (DC) and general-ciphering (DD) with the client title
    g = gglo(20, get_req(8, LN_CLOCK, 2))
    bad["general_ded_dc"] = srv.handle(1, 1, b"\xdc" + g[1:])
    bad["general_dd"] = srv.handle(1, 1, b"\xdd" + g[1:])
    out["refused"] = {k: _h(v) for k, v in bad.items()}
    out["refused_logged"] = [e[2] for e in m.logs.entries(1)][log0:]
    # Still associated, and the next glo-get is served (ICs above everything seen so far).
    out["after"] = open_glo(srv.handle(1, 1, glo(30, get_req(3, LN_AI, 3), tag=0xC8)), title)
    # Configuration level: glo-set-request of the MPAN, read back with glo-get-request.
    ok2, r2 = _hls_with(srv, 2, 1, EK2, AK2, 0xDB)
    out["config_hls_db"] = r2[0]
    out["set_cd"] = open_glo(
        srv.handle(2, 1, glo(3, set_mpan, EK2, AK2, tag=0xC9)), title, EK2, AK2
    )
    out["mpan_cc"] = open_glo(
        srv.handle(2, 1, glo(4, get_req(1, LN_MPAN, 2), EK2, AK2, tag=0xC8)), title, EK2, AK2
    )
    # Protected APDUs in a plain (public) association.
    _public(srv)
    plain = {}
    for tag in (0xC8, 0xC9, 0xCB, 0xD0, 0xD1, 0xD3, 0xDB, 0xDC, 0xDD):
        plain["%02x" % tag] = _h(srv.handle(16, 1, bytes((tag,)) + g[1:]))
    out["in_public"] = plain
    out["internal_errors"] = srv.internal_errors
    return out


def hls_lockout():
    """T11 for HLS (security.py LOCK_AFTER = 5, LOCK_S = 900): wrong keys in the AARQ and a
    wrong f(StoC) each count as a failed authentication of that client SAP; the fifth in a
    row locks the SAP for 900 meter seconds (count and lock end in FRAM "seccount"), the
    right key is refused while locked (rejected-transient, no IC consumed), the lock
    survives a rebuild over the same FRAM and ends when the clock reaches lock start + 900.
    SAPs lock independently; a success clears the count."""
    from firmware.store import RamFram

    fram = RamFram()
    t = [0]
    m = _ram_meter(fram, ticks=lambda: t[0])
    srv = CosemServer(m, rng=lambda n: b"S" * n)
    sec = srv.security
    out = {}
    ic = {1: 1, 2: 1}
    keys = {1: (EK, AK), 2: (EK2, AK2)}
    wrong = {1: (EK2, AK2), 2: (EK, AK)}

    def wrong_keys(sap):
        ok, r = _hls_with(srv, sap, ic[sap], wrong[sap][0], wrong[sap][1], 0xDB)
        ic[sap] += 2
        return _h(r)

    def wrong_stoc(sap):
        ek, ak = keys[sap]
        r = srv.handle(sap, 1, aarq(3, 5, ui=glo(ic[sap], INITIATE, ek, ak), ctos=CTOS))
        at = r.find(b"\xaa")
        stoc = r[at + 4 : at + 4 + r[at + 3]]
        n = ic[sap] + 1
        # f(StoC) under the wrong authentication key
        f = (
            b"\x10"
            + n.to_bytes(4, "big")
            + aes_gcm.hls_gmac(0x10, CLIENT_TITLE, n, ek, b"\x55" * 16, stoc)
        )
        act = bytes.fromhex("c301c0000f0000280000ff0101") + b"\x09\x11" + f
        reply = srv.handle(sap, 1, gglo(n, act, ek, ak))
        ic[sap] += 2
        return [_h(open_gglo(reply, sec.title, ek, ak)[1]), srv.association(sap) is None]

    def right(sap, server=None):
        s = server or srv
        ek, ak = keys[sap]
        ok, r = _hls_with(s, sap, ic[sap], ek, ak, 0xDB)
        ic[sap] += 2
        if not ok:
            return _h(r)
        return _h(open_gglo(r, s.security.title, ek, ak)[1][:6])

    def sec_log(meter, since=0):
        return [[e[2], e[3]] for e in meter.logs.entries(1)][since:]

    # Client 1: three AARQs ciphered with the wrong keys, two wrong f(StoC).
    out["c1_fail"] = [wrong_keys(1), wrong_keys(1), wrong_keys(1)]
    out["c1_counts"] = [sec.failures(1)]
    out["c1_stoc"] = [wrong_stoc(1)]
    out["c1_counts"].append(sec.failures(1))
    out["c1_stoc"].append(wrong_stoc(1))
    out["c1_counts"].append(sec.failures(1))
    out["c1_locked"] = sec.locked(1)
    peer = sec.last_peer_ic(0)
    out["c1_right_while_locked"] = right(1)
    out["c1_peer_ic_unchanged"] = sec.last_peer_ic(0) == peer
    out["c2_unaffected"] = right(2)
    out["c17_unaffected"] = _h(_public(srv, 17, password=b"12345678"))[:40]
    # Client 2: four failures, a success (count back to 0), then five: locked.
    counts2 = []

    def fail_c2(times):
        # Alternate the two ways to fail: wrong keys, then a wrong f(StoC).
        for i in range(times):
            if i % 2:
                wrong_stoc(2)
            else:
                wrong_keys(2)
            counts2.append(sec.failures(2))

    fail_c2(4)
    out["c2_success_clears"] = [right(2), sec.failures(2)]
    fail_c2(5)
    out["c2_counts"] = counts2
    out["c2_locked"] = sec.locked(2)
    out["c2_right_while_locked"] = right(2)
    out["log"] = sec_log(m)
    # Power cut: a new meter and server over the same FRAM, clock at the same time.
    t2 = [0]
    m2 = _ram_meter(fram, ticks=lambda: t2[0])
    srv2 = CosemServer(m2, rng=lambda n: b"S" * n)
    n_log = len(list(m2.logs.entries(1)))
    out["after_cut"] = {
        "locked": [srv2.security.locked(1), srv2.security.locked(2)],
        "failures": [srv2.security.failures(1), srv2.security.failures(2)],
        "c1_right": right(1, srv2),
        "c2_right": right(2, srv2),
    }
    t2[0] = 899_000  # 899 s later: still locked
    out["at_899s"] = [srv2.security.locked(1), right(1, srv2)]
    t2[0] = 900_000  # lock start + 900 s: unlocked, the right key is accepted
    out["at_900s"] = [srv2.security.locked(1), right(1, srv2), right(2, srv2)]
    out["log_after_cut"] = sec_log(m2, n_log)
    out["internal_errors"] = srv.internal_errors + srv2.internal_errors
    return out


def _col_def(col):
    return (
        axdr.STRUCTURE,
        [
            (axdr.LONG_UNSIGNED, col[0]),
            (axdr.OCTET_STRING, bytes(col[1])),
            (axdr.INTEGER, col[2]),
            (axdr.LONG_UNSIGNED, 0),
        ],
    )


def _range_sel(t_from, t_to, cols=()):
    from firmware.cosem.objects import CLOCK_LN, dt

    return (
        1,
        (
            axdr.STRUCTURE,
            [
                _col_def((8, CLOCK_LN, 2)),
                (axdr.OCTET_STRING, bytes(dt(t_from))),
                (axdr.OCTET_STRING, bytes(dt(t_to))),
                (axdr.ARRAY, [_col_def(c) for c in cols]),
            ],
        ),
    )


def read_only_every_form(phases=1):
    """Reads never alter data (DESIGN rule 6, CoP 10 5.5.3, reliability.md T8): every
    attribute of every object at every level (16, 17, 1, 2), GET with-list, block transfer,
    and on EVERY profile (HH, the four channel logs, the three event logs) selective access
    by entry (all; entries 2..3 x columns 2..3; past the end) and by range (a window with
    data: 4 half hours, or 30 s of each log; the same with selected columns clock + last; a
    window before any data); on a 3-phase meter the per-phase registers too. Returns the
    FRAM changes by region.

    For the unciphered levels the image is identical byte for byte. For HLS the only region
    that changes is the invocation-counter record "seccount": accepting a client IC is
    committed before the reply (that is what stops a replay, also across a power cut) and
    the meter reserves its own ICs in blocks of 64 ahead of use."""
    from firmware.cosem.objects import LogProfile
    from firmware.store import RamFram, get_u32

    fram = RamFram()
    m = _filled_meter(120, fram, phases)  # event log entry at now - 60, power log at now - 30
    now = m.clock.now()
    m.logs.log(1, 0x8F3E, 17, now - 45)  # and one in the Security Log
    srv = CosemServer(m, rng=lambda n: b"S" * n)
    g = m.store.geo
    p0 = now // 1800  # the oldest HH row is period p0, its time (p0 + 1) * 1800
    before = bytes(fram.image)
    counts = {}
    readable = {}
    rows = {}
    sent = {1: 0, 2: 0}

    def read(sap, cipher, req):
        if cipher is not None:
            n0 = cipher["ic"]
            r = get_all(srv, sap, req, None, cipher)
            sent[sap] += cipher["ic"] - n0
            return r
        return get_all(srv, sap, req)

    identical_unciphered = None
    for sap in (16, 17, 1, 2):
        cipher = _associate_at(srv, sap)
        if cipher is not None:
            sent[sap] = 2  # the AARQ's IC and the reply_to_HLS ACTION's
        ok = 0
        n = 0
        for obj in srv.objects.order:
            for attr in range(1, len(obj.attrs) + 1):
                kind, _v, _b = read(sap, cipher, get_req(obj.class_id, obj.ln, attr))
                n += 1
                ok += kind == "data"
            if 2 not in obj.selectors(2):
                continue
            cols = obj.columns
            if isinstance(obj, LogProfile):
                lo, hi = now - 60, now - 30
            else:
                lo, hi = (p0 + 2) * 1800, (p0 + 5) * 1800
            forms = (
                _entry_sel(1, 0, 1, 0),
                _entry_sel(2, 3, 2, 3),
                _entry_sel(100000, 0, 1, 0),
                _range_sel(lo, hi),
                _range_sel(lo, hi, (cols[0], cols[-1])),
                _range_sel(now - 86400 * 400, now - 86400 * 399),
            )
            got = []
            for sel in forms:
                kind, v, _b = read(sap, cipher, get_req(7, obj.ln, 2, sel=sel))
                n += 1
                if kind == "data":
                    ok += 1
                    r = axdr.decode_all(v)[1]
                    got.append([len(r), len(r[0][1]) if r else 0])
                else:
                    got.append(["dar", v])
            key = "%d-%d:%d.%d.%d.%d" % tuple(obj.ln)
            if key not in rows or rows[key][0] == ["dar", 3]:
                rows[key] = got  # the first level that may read it
            elif rows[key] != got:
                rows[key + "@%d" % sap] = got  # must never happen: same rows at every level
        wl = bytes.fromhex("c003c102") + b"\x00\x03" + LN_AI + b"\x02\x00"
        wl += b"\x00\x07" + LN_HH + b"\x07\x00"
        if cipher is not None:
            sent[sap] += 1
        r = _send(srv, sap, wl, None, cipher)
        n += 1
        ok += r[:2] == b"\xc4\x03"
        counts[str(sap)] = n
        readable[str(sap)] = ok
        srv.handle(sap, 1, bytes.fromhex("6203800100"))
        if sap == 17:
            identical_unciphered = bytes(fram.image) == before
    after = bytes(fram.image)
    # Where did the image change? (record, copy, offset in the copy) for every byte.
    regions = []
    for name in g.config:
        a, b, n = g.config[name]
        regions.append((name, a, b, n + 10))
    changed = {}
    outside = 0
    for i in range(len(after)):
        if after[i] == before[i]:
            continue
        for name, a, b, size in regions:
            if a <= i < a + size or b <= i < b + size:
                copy = "A" if a <= i < a + size else "B"
                off = i - (a if copy == "A" else b)
                part = "header" if off < 6 else ("crc" if off >= size - 4 else "payload")
                k = "%s.%s" % (name, part)
                if part == "payload":
                    changed.setdefault(k, set()).add(off - 6)
                else:
                    changed.setdefault(k, set())
                break
        else:
            outside += 1
    c = m.store.config("seccount").buf
    regs = []
    if phases == 3:
        _public(srv)
        for ph in range(3):
            for q in range(4):
                ln = bytes((1, 0, 21 + 20 * ph + q, 8, 0, 255))
                regs.append(axdr.decode_all(get_all(srv, 16, get_req(3, ln, 2))[1])[1])
        srv.handle(16, 1, bytes.fromhex("6203800100"))
    return {
        "objects": len(srv.objects),
        "requests": counts,
        "readable": readable,
        "rows": rows,
        "identical_unciphered": identical_unciphered,
        "changed": {k: sorted(v) for k, v in changed.items()},
        "changed_outside_records": outside,
        "seccount": {
            "own_reserved": [get_u32(c, 0), get_u32(c, 4)],
            "peer_ic": [get_u32(c, 8), get_u32(c, 12)],
            "fails_locks": _h(c[16:32]),
        },
        "ciphered_requests": [sent[1], sent[2]],
        "own_ics_sent": srv.security.sent,
        "phase_registers": regs,
        "image_identical_after_phase_reads": bytes(fram.image) == after,
        "internal_errors": srv.internal_errors,
    }


# Commissioning master keys (TEST ONLY; firmware/cosem/security.py DEFAULT_KEKS).
KEK = bytes.fromhex("F0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFF")
KEK2 = bytes.fromhex("E0E1E2E3E4E5E6E7E8E9EAEBECEDEEEF")
NEW_EK = bytes.fromhex("2B7E151628AED2A6ABF7158809CF4F3C")
NEW_AK = bytes.fromhex("6BC1BEE22E409F96E93D7E117393172A")
NEW_EK2 = bytes.fromhex("AE2D8A571E03AC9C9EB76FAC45AF8E51")
NEW_AK2 = bytes.fromhex("30C81C46A35CE411E5FBC1191A0A52EF")
NEW_KEK2 = bytes.fromhex("F69F2445DF4F9B17AD2B417BE66C3710")
LN_SS0 = bytes((0, 0, 43, 0, 0, 255))
LN_SS1 = bytes((0, 0, 43, 0, 1, 255))


def key_action(ln, items, invoke=0xC1):
    """ACTION Security setup `ln` method 2 key_transfer; items = [(key_id, wrapped)] or an
    already tagged parameter."""
    if isinstance(items, list):
        items = (
            axdr.ARRAY,
            [(axdr.STRUCTURE, [(axdr.ENUM, k), (axdr.OCTET_STRING, w)]) for k, w in items],
        )
    return (
        bytes((0xC3, 1, invoke))
        + (64).to_bytes(2, "big")
        + ln
        + b"\x02\x01"
        + axdr.encode(items, 256)
    )


def changed_regions(geo, before, after):
    """Names of the FRAM areas / config records whose bytes differ."""
    names = []
    spans = []
    for name, a, n in geo.areas():
        if name != "config":
            spans.append((name, a, a + n))
    for name in geo.config:
        a, b, n = geo.config[name]
        spans.append((name, a, b + n + 42))  # both copies and their guard gaps
    for i in range(len(after)):
        if after[i] != before[i]:
            for name, lo, hi in spans:
                if lo <= i < hi and name not in names:
                    names.append(name)
    return sorted(names)


def key_transfer():
    """Security setup key_transfer (Blue Book class 64 method 2; keys AES-key-wrapped, RFC
    3394, under the key set's master key), end to end in-process over one RAM FRAM."""
    from firmware.store import RamFram
    from lib import aes_keywrap as kw

    fram = RamFram()
    m = _ram_meter(fram)
    srv = CosemServer(m, rng=lambda n: b"S" * n)
    geo = m.store.geo
    title = srv.security.title
    out = {}

    def sec_log(meter, since):
        return [[e[2], e[3]] for e in meter.logs.entries(1)][since:]

    def n_log(meter, log_id=1):
        return len(list(meter.logs.entries(log_id)))

    def hls_ok(server, sap, ic, ek, ak):
        ok, r = _hls_with(server, sap, ic, ek, ak, 0xDB)
        if not ok:
            return _h(r)[-2:]  # the AARE's diagnostic (0d = authentication failure)
        return _h(open_gglo(r, server.security.title, ek, ak)[1][:6])

    # An operator association at IC 500 first: key set 0's client IC is then 501.
    out["operator_before"] = hls_ok(srv, 1, 500, EK, AK)
    _a, c2, _act = hls_associate(srv, 2, ic=1, ek=EK2, ak=AK2)
    # -- refusals: nothing may change but the accepted client IC and the logs
    log0 = n_log(m)
    img = bytes(fram.image)
    bad = {}
    bad["wrong_kek"] = [(0, kw.wrap(KEK2, NEW_EK))]  # key set 1's master key
    tampered = bytearray(kw.wrap(KEK, NEW_EK))
    tampered[12] ^= 0x01
    bad["tampered"] = [(0, NEW_AK[:8] + bytes(tampered[8:]))]
    bad["tampered_2nd"] = [(2, kw.wrap(KEK, NEW_AK)), (0, bytes(tampered))]
    out["unwrap_refused"] = {
        k: _h(_send(srv, 2, key_action(LN_SS0, v), None, c2)) for k, v in bad.items()
    }
    out["unwrap_refused_log"] = sec_log(m, log0)
    out["unwrap_refused_changed"] = changed_regions(geo, img, bytes(fram.image))
    out["keys_unchanged"] = srv.security.keys[0] == (EK, AK)
    malformed = {
        "not_array": (axdr.OCTET_STRING, kw.wrap(KEK, NEW_EK)),
        "empty": (axdr.ARRAY, []),
        "broadcast": [(1, kw.wrap(KEK, NEW_EK))],
        "key_id_4": [(4, kw.wrap(KEK, NEW_EK))],
        "twice": [(0, kw.wrap(KEK, NEW_EK)), (0, kw.wrap(KEK, NEW_EK))],
        "short": [(0, kw.wrap(KEK, NEW_EK)[:16])],
        "unsigned_id": (
            axdr.ARRAY,
            [(axdr.STRUCTURE, [(axdr.UNSIGNED, 0), (axdr.OCTET_STRING, kw.wrap(KEK, NEW_EK))])],
        ),
    }
    log0 = n_log(m)
    out["malformed"] = {
        k: _h(_send(srv, 2, key_action(LN_SS0, v), None, c2)) for k, v in malformed.items()
    }
    out["malformed_log"] = sec_log(m, log0)
    # -- the operator may not transfer keys (configuration level only)
    op = hls_associate(srv, 1, ic=600, ek=EK, ak=AK)[1]
    log0 = n_log(m)
    out["operator_denied"] = _h(
        _send(srv, 1, key_action(LN_SS0, [(0, kw.wrap(KEK, NEW_EK))]), None, op)
    )
    out["operator_denied_log"] = sec_log(m, log0)
    out["operator_peer_ic"] = srv.security.last_peer_ic(0)
    # -- client 2 sets new EK and AK of key set 0 (the operator level)
    log0 = n_log(m)
    ev0 = n_log(m, 0)
    img = bytes(fram.image)
    out["transfer_ks0"] = _h(
        _send(
            srv,
            2,
            key_action(LN_SS0, [(0, kw.wrap(KEK, NEW_EK)), (2, kw.wrap(KEK, NEW_AK))]),
            None,
            c2,
        )
    )
    out["transfer_ks0_log"] = sec_log(m, log0)
    out["transfer_ks0_event"] = [[e[2], e[3]] for e in m.logs.entries(0)][ev0:]
    out["transfer_ks0_changed"] = changed_regions(geo, img, bytes(fram.image))
    out["peer_ic_after"] = [srv.security.last_peer_ic(0), srv.security.last_peer_ic(1)]
    # The open operator association now gets nothing through with the old keys.
    out["old_operator_session"] = _h(srv.handle(1, 1, gglo(700, get_req(8, LN_CLOCK, 2))))
    out["old_keys"] = hls_ok(srv, 1, 800, EK, AK)
    out["new_keys_ic1"] = hls_ok(srv, 1, 1, NEW_EK, NEW_AK)  # client IC restarted: reset
    out["new_keys_replay"] = hls_ok(srv, 1, 1, NEW_EK, NEW_AK)  # ... and guarded again
    # -- client 2 changes its own key set (EK, AK and master key) in the same association:
    # the reply comes under the keys of the request, then the new keys hold.
    own = [(0, kw.wrap(KEK2, NEW_EK2)), (2, kw.wrap(KEK2, NEW_AK2)), (3, kw.wrap(KEK2, NEW_KEK2))]
    req = key_action(LN_SS1, own)
    ic = c2["ic"]
    log0 = n_log(m)
    r = srv.handle(2, 1, gglo(ic, req, EK2, AK2))
    out["transfer_ks1"] = _h(open_gglo(r, title, EK2, AK2)[1])
    out["transfer_ks1_log"] = sec_log(m, log0)
    out["same_session_old_keys"] = _h(
        srv.handle(2, 1, gglo(ic + 1, get_req(8, LN_CLOCK, 2), EK2, AK2))
    )
    r = srv.handle(2, 1, gglo(ic + 2, get_req(3, LN_AI, 3), NEW_EK2, NEW_AK2))
    out["same_session_new_keys"] = _h(open_gglo(r, title, NEW_EK2, NEW_AK2)[1])
    c2 = {"ic": ic + 3, "ek": NEW_EK2, "ak": NEW_AK2}
    # The master key changed too: a key wrapped under the old one is refused now.
    log0 = n_log(m)
    out["old_kek"] = _h(_send(srv, 2, key_action(LN_SS1, [(2, kw.wrap(KEK2, AK2))]), None, c2))
    out["new_kek"] = _h(_send(srv, 2, key_action(LN_SS1, [(2, kw.wrap(NEW_KEK2, AK2))]), None, c2))
    c2["ak"] = AK2
    out["kek_log"] = sec_log(m, log0)
    # The same key again: success, nothing written but the client IC.
    img = bytes(fram.image)
    out["same_again"] = _h(
        _send(srv, 2, key_action(LN_SS1, [(2, kw.wrap(NEW_KEK2, AK2))]), None, c2)
    )
    out["same_again_changed"] = changed_regions(geo, img, bytes(fram.image))
    out["config_old_keys"] = hls_ok(srv, 2, 900, EK2, AK2)
    out["config_new_keys"] = hls_ok(srv, 2, 5000, NEW_EK2, AK2)
    out["internal_errors"] = srv.internal_errors
    # -- power cut: the keys persist over a rebuild on the same FRAM
    m2 = _ram_meter(fram)
    srv2 = CosemServer(m2, rng=lambda n: b"S" * n)
    out["rebuilt"] = {
        "ks0_old": hls_ok(srv2, 1, 1000, EK, AK),
        "ks0_new": hls_ok(srv2, 1, 1001, NEW_EK, NEW_AK),
        "ks1_old": hls_ok(srv2, 2, 1000, EK2, AK2),
        "ks1_new": hls_ok(srv2, 2, 6000, NEW_EK2, AK2),
        "keys_record": _h(m2.store.config("keys").buf),
        "internal_errors": srv2.internal_errors,
    }
    return out


class CutFram:
    """RAM FRAM that loses power after `budget` more written bytes (None = never): the bytes
    before the cut land, the write in flight stops there and raises OSError (reliability.md
    §2 fault model: a prefix new, the rest old)."""

    def __init__(self, image):
        from firmware.store import RamFram

        self.ram = RamFram()
        self.ram.image[:] = image
        self.size = self.ram.size
        self.budget = None

    def readinto(self, addr, buf):
        self.ram.readinto(addr, buf)

    def write(self, addr, buf):
        n = len(buf)
        if self.budget is not None and n > self.budget:
            n = self.budget
            self.ram.write(addr, memoryview(buf)[:n])
            self.budget = 0
            raise OSError(5, "power cut")
        self.ram.write(addr, buf)
        if self.budget is not None:
            self.budget -= n


def key_transfer_power_cut(stride=1):
    """Cut the power after every `stride`-th byte written while the meter handles a
    key_transfer of key set 0 (new EK and AK). After each cut the meter boots over the image
    and exactly one key set works, the old or the new, never a mix; with the old keys the
    client IC high-water mark (501) still holds, with the new ones it has been reset (IC 1 is
    accepted), also when the cut fell between the key commit and the IC reset."""
    from firmware.store import RamFram
    from lib import aes_keywrap as kw

    ram = RamFram()
    _ram_meter(ram)  # format once
    base = bytes(ram.image)
    req = key_action(LN_SS0, [(0, kw.wrap(KEK, NEW_EK)), (2, kw.wrap(KEK, NEW_AK))])

    def attempt(budget):
        f = CutFram(base)
        srv = CosemServer(_ram_meter(f), rng=lambda n: b"S" * n)
        _hls_with(srv, 1, 500, EK, AK, 0xDB)  # key set 0's client IC -> 501
        _a, c2, _act = hls_associate(srv, 2, ic=1, ek=EK2, ak=AK2)
        w0 = f.ram.bytes_written
        f.budget = budget
        try:
            reply = _send(srv, 2, req, None, c2)
        except OSError:
            reply = None  # the cut hit while ciphering the reply
        return f, f.ram.bytes_written - w0, reply

    _f, total, reply = attempt(None)
    outcomes = {}
    bad = []
    for budget in list(range(0, total, stride)) + [total]:
        f, _n, _r = attempt(budget)
        m = _ram_meter(f.ram)
        srv = CosemServer(m, rng=lambda n: b"S" * n)
        old = _hls_with(srv, 1, 1, EK, AK, 0xDB)[0]  # IC 1: refused if 501 still holds
        old_above = _hls_with(srv, 1, 502, EK, AK, 0xDB)[0]
        new = _hls_with(srv, 1, 1, NEW_EK, NEW_AK, 0xDB)[0]
        if old_above and not old and not new:
            kind = "old"
        elif new and not old and not old_above:
            kind = "new"
        else:
            kind = "bad"
            bad.append([budget, old, old_above, new])
        outcomes[kind] = outcomes.get(kind, 0) + 1
        if srv.internal_errors or m.store.read_only:
            bad.append([budget, "errors"])
    return {
        "total_bytes": total,
        "reply": _h(reply),
        "outcomes": outcomes,
        "bad": bad,
    }


def keywrap_kats():
    """lib/aes_keywrap against RFC 3394 §4 (the vectors with 128- and 256-bit KEKs; the
    boards' cryptolib has no AES-192) and its integrity check."""
    from lib import aes_keywrap as kw

    kek128 = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
    kek256 = bytes.fromhex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F")
    k128 = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
    k256 = k128 + bytes.fromhex("000102030405060708090A0B0C0D0E0F")
    out = {
        "4.1": _h(kw.wrap(kek128, k128)),
        "4.3": _h(kw.wrap(kek256, k128)),
        "4.6": _h(kw.wrap(kek256, k256)),
        "4.1_unwrap": _h(kw.unwrap(kek128, kw.wrap(kek128, k128))),
        "4.6_unwrap": _h(kw.unwrap(kek256, kw.wrap(kek256, k256))),
    }
    w = kw.wrap(kek128, k128)
    refused = []
    for i in range(len(w)):  # every single-bit change anywhere is caught
        b = bytearray(w)
        b[i] ^= 1 << (i % 8)
        try:
            kw.unwrap(kek128, bytes(b))
        except kw.UnwrapError:
            refused.append(i)
    out["bit_flips_refused"] = len(refused)
    errors = []
    for kek, data, fn in (
        (kek128[:8] + kek128, k128, kw.wrap),  # 24-byte KEK (AES-192)
        (kek128, k128[:8], kw.wrap),  # one block: RFC 3394 needs n >= 2
        (kek128, k128 + b"\x00", kw.wrap),  # not a multiple of 8
        (kek128, w[:16], kw.unwrap),
        (k128, w, kw.unwrap),  # wrong KEK
    ):
        try:
            fn(kek, data)
            errors.append("none")
        except kw.UnwrapError:
            errors.append("UnwrapError")
        except ValueError:
            errors.append("ValueError")
    out["errors"] = errors
    return out


def plugged_in_object():
    """Issue 5 deliverable 3: a new object plugs in by declaring itself, without touching the
    codec. A Disconnect control (Blue Book class 70: attribute 2 output_state boolean, 3
    control_state enum; methods 1 remote_disconnect, 2 remote_reconnect), as the supply
    issue will add it: readable by the public client, its methods owned by the operator level.
    Everything below goes through the unchanged server: GET, ACTION with rights, the object
    list of the Association LN."""
    from firmware.cosem import apdu
    from firmware.cosem import objects as cobj
    from firmware.cosem.association import OPERATOR, PUBLIC

    class DisconnectControl(cobj.CosemObject):
        class_id = 70
        version = 1

        def __init__(self):
            attrs = ((PUBLIC, cobj.NEVER), (PUBLIC, cobj.NEVER), (PUBLIC, cobj.NEVER))
            super().__init__("0-0:96.3.10.255", attrs, methods=(OPERATOR, OPERATOR))
            self.connected = True
            self.calls = []

        def get(self, attr, ctx, selector, param):
            if attr == 2:
                return (axdr.BOOLEAN, self.connected)
            if attr == 3:
                return (axdr.ENUM, 1 if self.connected else 0)  # connected / disconnected
            return super().get(attr, ctx, selector, param)

        def action(self, method, param, ctx):
            if method not in (1, 2) or param is None or param[0] != axdr.INTEGER:
                return apdu.DAR_TYPE_UNMATCHED, None
            self.calls.append(method)
            self.connected = method == 2
            return apdu.DAR_SUCCESS, None

    m = _filled_meter(5)
    srv = CosemServer(m, rng=lambda n: b"S" * n)
    dc = srv.objects.add(DisconnectControl())
    ln = dc.ln
    disconnect = bytes((0xC3, 1, 0xC1, 0, 70)) + ln + bytes((1, 1, axdr.INTEGER, 0))
    out = {}
    _public(srv)
    out["public_get"] = [_h(get_all(srv, 16, get_req(70, ln, a))[1]) for a in (2, 3)]
    out["public_action"] = _h(srv.handle(16, 1, disconnect))
    out["public_listed"] = _h(ln) in _h(get_all(srv, 16, get_req(15, LN_ASSOC, 2))[1])
    cipher = _associate_at(srv, 1)
    out["operator_action"] = _h(_send(srv, 1, disconnect, None, cipher))
    out["after"] = _h(get_all(srv, 1, get_req(70, ln, 2), cipher=cipher)[1])
    out["calls"] = dc.calls
    return out
