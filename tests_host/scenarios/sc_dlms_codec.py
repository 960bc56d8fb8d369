"""Scenarios for the DLMS codecs: lib/aes_gcm, firmware/cosem/{hdlc,wrapper,axdr}.

Run under CPython and the MicroPython unix port. Vector-driven scenarios take the path of
tests_host/data/dlms_vectors.json and return plain hex/ints for the tests to compare.
"""

import json

from firmware.cosem import axdr, hdlc, wrapper
from firmware.cosem.errors import EncodeOverflow, FcsError, ProtocolError
from lib import aes_gcm
from lib.crc import crc16_x25

EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")


def _h(b):
    return bytes(b).hex()


def _load(path):
    with open(path) as f:
        return json.load(f)


def _items(path, kind):
    out = []
    for s in _load(path)["sessions"]:
        for it in s["items"]:
            if kind in it:
                out.append(it)
    return out


# ---------------------------------------------------------------- AES-GCM


def gcm_kats():
    """McGrew & Viega test cases 1-4 (AES-128), Green Book KATs, captured HLS tags."""
    r = {}
    k0 = bytes(16)
    iv0 = bytes(12)
    g0 = aes_gcm.AesGcm(k0)
    r["tc1"] = _h(g0.encrypt(iv0, b"")[1])
    c, t = g0.encrypt(iv0, bytes(16))
    r["tc2"] = [_h(c), _h(t)]
    k = bytes.fromhex("feffe9928665731c6d6a8f9467308308")
    iv = bytes.fromhex("cafebabefacedbaddecaf888")
    p = bytes.fromhex(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
        "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
    )
    g = aes_gcm.AesGcm(k)
    c, t = g.encrypt(iv, p)
    r["tc3"] = [_h(c), _h(t)]
    aad = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
    c4, t4 = g.encrypt(iv, p[:60], aad)
    r["tc4"] = [_h(c4), _h(t4)]
    r["tc4_decrypt_ok"] = g.decrypt(iv, c4, t4, aad) == p[:60]
    bad = bytearray(c4)
    bad[0] ^= 1
    try:
        g.decrypt(iv, bad, t4, aad)
        r["tc4_tamper"] = "accepted"
    except aes_gcm.AuthError:
        r["tc4_tamper"] = "AuthError"
    r["tc4_truncated_tag"] = _h(g.encrypt(iv, p[:60], aad, 12)[1])
    # Green Book suite 0 KAT (reliability.md §5)
    title = bytes.fromhex("4D4D4D0000BC614E")
    plain = bytes.fromhex("C0010000080000010000FF0200")
    r["gb_encrypt"] = _h(aes_gcm.dlms_encrypt(0x30, title, 0x01234567, EK, AK, plain))
    ct = aes_gcm.dlms_encrypt(0x30, title, 0x01234567, EK, AK, plain)
    r["gb_decrypt"] = _h(aes_gcm.dlms_decrypt(0x30, title, 0x01234567, EK, AK, ct))
    auth_only = aes_gcm.dlms_encrypt(0x10, title, 0x01234567, EK, AK, plain)
    r["gb_auth_only"] = _h(auth_only)
    r["gb_auth_only_back"] = _h(aes_gcm.dlms_decrypt(0x10, title, 0x01234567, EK, AK, auth_only))
    r["gb_hls"] = _h(
        aes_gcm.hls_gmac(
            0x10,
            bytes.fromhex("4D4D4D0000000001"),
            1,
            EK,
            AK,
            bytes.fromhex("503677524A323146"),
        )
    )
    # Captured HLS-GMAC exchange (dlms.md §7)
    stoc = bytes.fromhex("53544F4332303234534552564552210A")
    ctos = bytes.fromhex("43544F53323032344E4F4E4345210A0A")
    r["f_stoc"] = _h(aes_gcm.hls_gmac(0x10, b"DRSM1234", 2, EK, AK, stoc))
    r["f_ctos"] = _h(aes_gcm.hls_gmac(0x10, bytes.fromhex("4D504D0000000001"), 2, EK, AK, ctos))
    # Every single-bit flip of ciphertext or tag is rejected.
    rejected = 0
    for i in range(len(ct) * 8):
        b = bytearray(ct)
        b[i >> 3] ^= 1 << (i & 7)
        try:
            aes_gcm.dlms_decrypt(0x30, title, 0x01234567, EK, AK, b)
        except aes_gcm.AuthError:
            rejected += 1
    r["flips_rejected"] = [rejected, len(ct) * 8]
    errs = []
    for sc, ic, data in ((0x31, 1, ct), (0x30, -1, ct), (0x30, 1 << 32, ct), (0x30, 1, b"\x00")):
        try:
            aes_gcm.dlms_decrypt(sc, title, ic, EK, AK, data)
            errs.append("ok")
        except aes_gcm.AuthError:
            errs.append("AuthError")
        except ValueError:
            errs.append("ValueError")
    r["bad_args"] = errs
    # Multi-block message with a partial last block, decrypted back.
    long_plain = bytes(range(256)) * 2 + b"xyz"
    c, t = g.encrypt(iv, long_plain, aad, 12)
    r["long_roundtrip"] = g.decrypt(iv, c, t, aad) == long_plain
    return r


def _split_db(apdu):
    """general-glo-ciphering: DB 08 title len SC IC(4) body -> (title, sc, ic, body)."""
    title = apdu[2:10]
    n, p = axdr.decode_length(apdu, 10, len(apdu))
    return title, apdu[p], int.from_bytes(apdu[p + 1 : p + 5], "big"), apdu[p + 5 : p + n]


def _split_user_info(apdu):
    """AARQ/AARE/RLRQ user-information BE 23 04 21 (21|28) 1F SC IC body."""
    i = apdu.index(b"\xbe")
    p = i + 4  # BE len 04 len
    n = apdu[p + 1]
    return apdu[p + 2], int.from_bytes(apdu[p + 3 : p + 7], "big"), apdu[p + 7 : p + 2 + n]


def ciphered_vectors(path):
    """Decrypt every captured ciphered APDU and re-encrypt it to the same bytes."""
    d = _load(path)
    server_title = bytes.fromhex(d["keys"]["server_system_title"])
    client_title = b"DRSM1234"
    out = []
    for it in _items(path, "wrapper"):
        apdu = bytes.fromhex(it["apdu"])
        if apdu[0] == 0xDB:
            title, sc, ic, body = _split_db(apdu)
        elif apdu[0] in (0x60, 0x61, 0x62) and b"\xbe\x23\x04\x21" in apdu:
            sc, ic, body = _split_user_info(apdu)
            title = client_title if it["dir"] == "C->S" else server_title
        else:
            continue
        plain = aes_gcm.dlms_decrypt(sc, title, ic, EK, AK, body)
        again = aes_gcm.dlms_encrypt(sc, title, ic, EK, AK, plain)
        out.append(
            {
                "what": it["what"],
                "title": _h(title),
                "sc": sc,
                "ic": ic,
                "plain": _h(plain),
                "reencrypt_same": again == body,
            }
        )
    return out


# ---------------------------------------------------------------- HDLC


def hdlc_vectors(path):
    out = []
    for it in _items(path, "hdlc"):
        b = bytes.fromhex(it["frame"])
        fr = hdlc.decode_frame(b, 1, len(b) - 1)
        up, low = hdlc.decode_address(fr.dst if it["dir"] == "C->S" else fr.src)
        out.append(
            {
                "format": _h(b[1:3]),
                "segmented": fr.segmented,
                "dst": _h(fr.dst),
                "src": _h(fr.src),
                "control": "%02x" % fr.control,
                "kind": hdlc.describe_control(fr.control),
                "info": _h(fr.info),
                "reencoded": _h(fr.encode()),
                "server_upper": up,
                "server_lower": low,
                "flags": [b[0], b[-1]],
            }
        )
    return out


def addresses():
    forms = []
    for up, low, size in ((1, None, 1), (1, 17, 2), (1, 17, 4), (0x3FFF, 0x3FFE, 4), (127, 0, 0)):
        raw = hdlc.encode_address(up, low, size)
        forms.append([_h(raw), list(hdlc.decode_address(raw))])
    errs = []
    for args in ((1, None, 2), (200, None, 1), (1, 200, 2), (1, 0x4000, 4), (1, 1, 3)):
        try:
            hdlc.encode_address(*args)
            errs.append("ok")
        except ValueError:
            errs.append("ValueError")
    # A 3-byte address is illegal in a frame.
    body = bytearray(b"\xa0\x09\x02\x02\x23\x21\x93")
    fcs = crc16_x25(body)
    body += bytes((fcs & 0xFF, fcs >> 8))
    try:
        hdlc.decode_frame(body)
        errs.append("ok")
    except FcsError:
        errs.append("FcsError")
    except ProtocolError:
        errs.append("ProtocolError")
    return {"forms": forms, "errors": errs}


def controls():
    names = []
    for c in (0x93, 0x73, 0x53, 0x1F, 0x97, 0x13, 0xF1, 0xF5, 0x76, 0x09, 0x0D, 0xE3, 0x10):
        names.append(hdlc.describe_control(c))
    built = [
        hdlc.i_control(3, 4),
        hdlc.s_control(hdlc.RR, 7),
        hdlc.s_control(hdlc.RNR, 2, 0),
        hdlc.u_control(hdlc.SNRM),
        hdlc.u_control(hdlc.DM),
        hdlc.u_control(hdlc.FRMR),
    ]
    return {"names": names, "built": built}


def params():
    ua = bytes.fromhex("818012050180060180070400000001080400000001")
    snrm = bytes.fromhex("8180140502020006020100070400000001080400000001")
    errs = []
    for bad in ("8180", "8280020501", "818005050180", "8180030500ff", "818003050580"):
        try:
            hdlc.parse_params(bytes.fromhex(bad))
            errs.append("ok")
        except ProtocolError:
            errs.append("ProtocolError")
    return {
        "ua": hdlc.parse_params(ua),
        "snrm": hdlc.parse_params(snrm),
        "empty": hdlc.parse_params(b""),
        "build_default": _h(hdlc.build_params(128, 128)),
        "build_big": _h(hdlc.build_params(512, 256, 1, 1)),
        "errors": errs,
    }


def _hdlc_frames(path):
    return [bytes.fromhex(it["frame"]) for it in _items(path, "hdlc")]


def deframer_stream(path):
    """All captured frames in one stream, then byte by byte, then with a shared flag."""
    frames = _hdlc_frames(path)
    stream = b"".join(frames)
    d = hdlc.Deframer(hdlc.MAX_FRAME_LEN)
    whole = [fr.encode() == frames[i] for i, fr in enumerate(d.feed(stream))]
    d2 = hdlc.Deframer(hdlc.MAX_FRAME_LEN)
    one = []
    for i in range(len(stream)):
        one += d2.feed(stream[i : i + 1])
    # Closing flag doubling as the next opening flag.
    shared = frames[0] + b"".join(f[1:] for f in frames[1:])
    d3 = hdlc.Deframer(hdlc.MAX_FRAME_LEN)
    n_shared = len(d3.feed(shared))
    return {
        "count": len(frames),
        "whole": whole,
        "bytewise": len(one),
        "bytewise_same": [f.encode() for f in one] == frames,
        "shared_flag": n_shared,
        "dropped": d.dropped + d2.dropped + d3.dropped,
    }


def deframer_garbage(path):
    """Garbage (with fake flags and plausible headers), corrupted frames, oversize frames."""
    frames = _hdlc_frames(path)
    get = frames[8]  # an I-frame carrying a GET
    snrm = frames[0]
    results = {}
    # 1. garbage without flags, then frames
    d = hdlc.Deframer(256)
    got = d.feed(b"\x01\x02\xa0\x19\xff" * 5 + get + snrm)
    results["plain_garbage"] = [len(got), d.garbage]
    # 2. a fake header whose length runs into the real frame: idle() recovers it
    d = hdlc.Deframer(256)
    got = d.feed(b"\x7e\xa0\x40\x03\x21" + get + snrm)
    before = len(got)
    got += d.idle()
    results["fake_header"] = [before, [f.encode() for f in got] == [get, snrm], d.dropped]
    # 3. a 0x7E inside the information field does not split the frame
    apdu = b"\xc0\x01\xc1\x00\x03\x01\x00\x01\x08\x00\x7e\x02\x00"
    f7e = hdlc.encode_frame(b"\x03", b"\x21", hdlc.i_control(0, 0), hdlc.LLC_REQUEST + apdu)
    d = hdlc.Deframer(256)
    got = d.feed(f7e)
    results["flag_in_info"] = [len(got), _h(got[0].info[3:]) if got else ""]
    # 4. bad FCS and bad HCS frames dropped silently, the next one parsed
    bad_fcs = bytearray(get)
    bad_fcs[-2] ^= 0xFF
    bad_hcs = bytearray(get)
    bad_hcs[7] ^= 0x01
    bad_info = bytearray(get)
    bad_info[12] ^= 0x40
    d = hdlc.Deframer(256)
    got = d.feed(bytes(bad_fcs) + bytes(bad_hcs) + bytes(bad_info) + snrm)
    results["bad_crc"] = [len(got), got[0].control if got else -1, d.fcs_errors]
    # 5. an oversize frame (valid but longer than max_frame) is dropped, the next one kept
    big = hdlc.encode_frame(b"\x03", b"\x21", hdlc.i_control(0, 0), bytes(300))
    d = hdlc.Deframer(200)
    got = d.feed(big + snrm)
    got += d.idle()
    results["oversize"] = [len(got), got[0].control if got else -1]
    # 6. truncated frames at every cut point never produce a frame; the next one does
    # (cut just before the closing flag: the SNRM's opening flag closes the frame, which is
    # then complete and valid)
    odd = []
    for cut in range(1, len(get)):
        d = hdlc.Deframer(256)
        got = d.feed(get[:cut])
        got += d.feed(snrm)
        got += d.idle()
        if [f.control for f in got] != [0x93]:
            odd.append([cut, [f.control for f in got]])
    results["truncations"] = odd
    return results


class _Link:
    """Captures what the server sends; answers APDUs from a table."""

    def __init__(self, answers=None):
        self.sent = []
        self.apdus = []
        self.answers = answers or {}
        self.events = []

    def send(self, mv):
        self.sent.append(bytes(mv))

    def on_apdu(self, sap, ld, apdu):
        self.apdus.append([sap, ld, _h(apdu)])
        return self.answers.get(apdu)

    def on_link(self, up, sap):
        self.events.append([up, sap])


def session_replay(path):
    """Replay the Gurux HDLC capture (s4) against HdlcServer; return what it sent."""
    sess = None
    for s in _load(path)["sessions"]:
        if s["transport"] != "wrapper":
            sess = s
    items = sess["items"]
    answers = {}
    for i, it in enumerate(items):
        if it["dir"] == "C->S" and "apdu" in it:
            for nxt in items[i + 1 :]:
                if nxt["dir"] == "S->C" and "apdu" in nxt:
                    answers[bytes.fromhex(it["apdu"])] = bytes.fromhex(nxt["apdu"])
                    break
    link = _Link(answers)
    srv = hdlc.HdlcServer(link.send, link.on_apdu, on_link=link.on_link)
    per_request = []
    for it in items:
        if it["dir"] != "C->S":
            continue
        n0 = len(link.sent)
        srv.feed(bytes.fromhex(it["frame"]))
        per_request.append([it["what"], [_h(b) for b in link.sent[n0:]]])
    return {
        "replies": per_request,
        "apdus": len(link.apdus),
        "events": link.events,
        "state": srv.state,
        "max_info": [srv.max_info_tx, srv.max_info_rx],
    }


def _frame(dst, src, control, info=b"", seg=False):
    return hdlc.encode_frame(dst, src, control, info, seg)


def session_rules():
    """Address forms, NDM/NRM rules, sequence errors, FRMR, segmentation both ways."""
    r = {}
    big_answer = bytes(range(256)) + bytes(44)  # 300 bytes -> 3 segments at 128
    req = b"\xc0\x01\xc1\x00\x03\x01\x00\x01\x08\x00\xff\x02\x00"
    link = _Link({req: big_answer})
    srv = hdlc.HdlcServer(link.send, link.on_apdu, physical=17, on_link=link.on_link)
    c = b"\x21"
    s4 = hdlc.encode_address(1, 17, 4)

    def run(frame):
        n0 = len(link.sent)
        srv.feed(frame)
        out = []
        for b in link.sent[n0:]:
            fr = hdlc.decode_frame(b, 1, len(b) - 1)
            out.append([_h(fr.dst), _h(fr.src), hdlc.describe_control(fr.control), fr.segmented])
        return out

    r["ndm_i_frame"] = run(_frame(s4, c, hdlc.i_control(0, 0), hdlc.LLC_REQUEST + req))
    r["ndm_disc"] = run(_frame(s4, c, hdlc.u_control(hdlc.DISC)))
    r["wrong_physical"] = run(_frame(hdlc.encode_address(1, 18, 2), c, 0x93))
    r["wrong_ld"] = run(_frame(b"\x05", c, 0x93))
    r["snrm_4byte"] = run(_frame(s4, c, 0x93))
    r["ua_info"] = _h(hdlc.decode_frame(link.sent[-1], 1, len(link.sent[-1]) - 1).info)
    r["other_client_ignored"] = run(_frame(s4, b"\x23", hdlc.i_control(0, 0), b"x"))
    # Segmented response: 3 + 300 bytes at 128 per frame -> 128, 128, 47
    r["get_big"] = run(_frame(s4, c, hdlc.i_control(0, 0), hdlc.LLC_REQUEST + req))
    seg_info = [hdlc.decode_frame(link.sent[-1], 1, len(link.sent[-1]) - 1).info]
    r["rr_lost_repeat"] = run(_frame(s4, c, hdlc.s_control(hdlc.RR, 0)))
    r["rnr"] = run(_frame(s4, c, hdlc.s_control(hdlc.RNR, 1)))
    r["rr_next"] = run(_frame(s4, c, hdlc.s_control(hdlc.RR, 1)))
    seg_info.append(hdlc.decode_frame(link.sent[-1], 1, len(link.sent[-1]) - 1).info)
    r["rr_last"] = run(_frame(s4, c, hdlc.s_control(hdlc.RR, 2)))
    seg_info.append(hdlc.decode_frame(link.sent[-1], 1, len(link.sent[-1]) - 1).info)
    joined = b"".join(seg_info)
    r["segments"] = [len(x) for x in seg_info]
    r["reassembled_ok"] = joined == hdlc.LLC_RESPONSE + big_answer
    r["rr_idle"] = run(_frame(s4, c, hdlc.s_control(hdlc.RR, 3)))
    # Segmented request: two segments then the last; RR after each non-final one.
    part1 = hdlc.LLC_REQUEST + req[:6]
    r["seg_req_1"] = run(_frame(s4, c, hdlc.i_control(1, 3), part1, True))
    r["seg_req_repeat"] = run(_frame(s4, c, hdlc.i_control(1, 3), part1, True))
    r["seg_req_2"] = run(_frame(s4, c, hdlc.i_control(2, 3), req[6:], False))
    r["seg_req_apdu"] = link.apdus[-1]
    # The answer to the reassembled GET is again 3 segments; drain them.
    r["drain"] = run(_frame(s4, c, hdlc.s_control(hdlc.RR, 4))) + run(
        _frame(s4, c, hdlc.s_control(hdlc.RR, 5))
    )
    # Out-of-sequence I-frame -> RR with the expected N(R); no APDU delivered.
    n_apdus = len(link.apdus)
    r["out_of_seq"] = run(_frame(s4, c, hdlc.i_control(5, 6), hdlc.LLC_REQUEST + req))
    r["out_of_seq_delivered"] = len(link.apdus) - n_apdus
    # Wrong LLC: APDU dropped, RR sent, sequence still advances.
    r["bad_llc"] = run(_frame(s4, c, hdlc.i_control(3, 6), b"\xe6\xe7\x00" + req))
    r["llc_errors"] = srv.llc_errors
    # Invalid N(R) -> FRMR (Z); then everything but SNRM/DISC repeats FRMR.
    r["bad_nr"] = run(_frame(s4, c, hdlc.i_control(4, 2), hdlc.LLC_REQUEST + req))
    r["frmr_info"] = _h(hdlc.decode_frame(link.sent[-1], 1, len(link.sent[-1]) - 1).info)
    r["in_frmr"] = run(_frame(s4, c, hdlc.s_control(hdlc.RR, 6)))
    r["disc"] = run(_frame(s4, c, 0x53))
    r["state_after_disc"] = srv.state
    # Invalid control field -> FRMR W.
    run(_frame(s4, c, 0x93))
    r["invalid_control"] = run(_frame(s4, c, 0x09))
    r["frmr_w"] = _h(hdlc.decode_frame(link.sent[-1], 1, len(link.sent[-1]) - 1).info)
    # RR carrying an information field -> FRMR W+X.
    run(_frame(s4, c, 0x93))
    r["rr_with_info"] = run(_frame(s4, c, hdlc.s_control(hdlc.RR, 0), b"\x00"))
    r["frmr_wx"] = _h(hdlc.decode_frame(link.sent[-1], 1, len(link.sent[-1]) - 1).info)
    r["events"] = link.events
    return r


def session_negotiation():
    """SNRM with parameters; segmented request larger than max_apdu -> FRMR Y."""
    link = _Link()
    srv = hdlc.HdlcServer(link.send, link.on_apdu, max_info=256, max_apdu=64)
    snrm_info = hdlc.build_params(200, 64, 1, 1)  # client: sends up to 200, receives 64
    srv.feed(hdlc.encode_frame(b"\x03", b"\x21", 0x93, snrm_info))
    ua = hdlc.decode_frame(link.sent[-1], 1, len(link.sent[-1]) - 1)
    res = {"ua": _h(ua.info), "negotiated": [srv.max_info_tx, srv.max_info_rx]}
    # Longer than the negotiated receive size (200) but within our buffer (256): FRMR Y.
    srv.feed(hdlc.encode_frame(b"\x03", b"\x21", hdlc.i_control(0, 0), bytes(201)))
    fr = hdlc.decode_frame(link.sent[-1], 1, len(link.sent[-1]) - 1)
    res["too_long"] = [hdlc.describe_control(fr.control), _h(fr.info), srv.state]
    # Longer than our buffer: the deframer drops it, nothing is sent.
    n0 = len(link.sent)
    srv.feed(hdlc.encode_frame(b"\x03", b"\x21", hdlc.i_control(0, 0), bytes(300)))
    srv.idle()
    res["oversize_replies"] = len(link.sent) - n0
    srv.feed(hdlc.encode_frame(b"\x03", b"\x21", 0x93, snrm_info))
    seg = hdlc.LLC_REQUEST + bytes(40)
    srv.feed(hdlc.encode_frame(b"\x03", b"\x21", hdlc.i_control(0, 0), seg, True))
    srv.feed(hdlc.encode_frame(b"\x03", b"\x21", hdlc.i_control(1, 0), bytes(40), True))
    last = hdlc.decode_frame(link.sent[-1], 1, len(link.sent[-1]) - 1)
    res["overflow"] = [hdlc.describe_control(last.control), _h(last.info)]
    res["delivered"] = len(link.apdus)
    # Unusable SNRM parameters -> DM
    link2 = _Link()
    srv2 = hdlc.HdlcServer(link2.send, link2.on_apdu)
    srv2.feed(hdlc.encode_frame(b"\x03", b"\x21", 0x93, b"\x81\x80\x05\x05\x09"))
    d = hdlc.decode_frame(link2.sent[-1], 1, len(link2.sent[-1]) - 1)
    res["bad_snrm"] = [hdlc.describe_control(d.control), srv2.state]
    return res


# ---------------------------------------------------------------- wrapper


def wrapper_vectors(path):
    out = []
    dec = wrapper.WrapperDecoder(1024)
    stream = b""
    for it in _items(path, "wrapper"):
        b = bytes.fromhex(it["frame"])
        stream += b
        got = wrapper.WrapperDecoder(1024).feed(b)
        src, dst, apdu = got[0]
        out.append(
            {
                "n": len(got),
                "src": src,
                "dst": dst,
                "length": len(apdu),
                "apdu": _h(apdu),
                "reencoded": wrapper.encode(src, dst, apdu) == b,
            }
        )
    all_at_once = dec.feed(stream)
    dec2 = wrapper.WrapperDecoder(1024)
    bytewise = []
    for i in range(0, len(stream), 7):
        bytewise += dec2.feed(stream[i : i + 7])
    return {
        "items": out,
        "stream": len(all_at_once),
        "chunked_same": bytewise == all_at_once,
    }


def wrapper_errors():
    res = []
    for hexs in (
        "0002001000010001c0",  # version 2
        "00010010000100000000",  # zero length
        "0001001000010401",  # 1025 > max 1024
    ):
        d = wrapper.WrapperDecoder(1024)
        try:
            d.feed(bytes.fromhex(hexs))
            res.append("ok")
        except ProtocolError:
            try:
                d.feed(b"\x00")
                res.append("ProtocolError-recovered")
            except ProtocolError:
                d.reset()
                ok = d.feed(bytes.fromhex("00010010000100056203800100"))
                res.append("ProtocolError-sticky-reset-%d" % len(ok))
    d = wrapper.WrapperDecoder(16)
    partial = d.feed(bytes.fromhex("000100100001000562038001"))
    rest = d.feed(bytes.fromhex("00"))
    res.append([len(partial), rest[0][0], rest[0][1], _h(rest[0][2])])
    buf = bytearray(10)
    end = wrapper.encode_header_into(buf, 1, 1, 16, 5)
    res.append([end, _h(buf)])
    try:
        wrapper.encode(0x10000, 1, b"x")
        res.append("ok")
    except ValueError:
        res.append("ValueError")
    return res


# ---------------------------------------------------------------- A-XDR


def _plain(tv):
    """Tagged value -> JSON-friendly nested lists with bytes as hex."""
    tag, v = tv
    if tag in (axdr.ARRAY, axdr.STRUCTURE):
        return [tag, [_plain(x) for x in v]]
    if isinstance(v, (bytes, bytearray)):
        return [tag, _h(v)]
    if tag == axdr.BIT_STRING:
        return [tag, [v[0], _h(v[1])]]
    return [tag, v]


def axdr_vectors(path):
    """Decode the Data of every GET-Response-Normal (plain or deciphered) and re-encode it."""
    out = []
    seen = {}
    for it in _items(path, "apdu"):
        apdu = bytes.fromhex(it.get("plain_apdu", it["apdu"]))
        if apdu[:2] != b"\xc4\x01" or apdu[3] != 0:
            continue
        if apdu in seen:
            continue
        seen[apdu] = 1
        v = axdr.decode_all(apdu, 4)
        w = axdr.Writer(bytearray(512))
        w.value(v)
        out.append({"apdu": _h(apdu), "value": _plain(v), "same": bytes(w.view()) == apdu[4:]})
    return out


def axdr_selective_access():
    req = bytes.fromhex(
        "c001c100070100630100ff0201010204020412000809060000010000ff0f02120000"
        "090c07e8010fff0a1e0000000000090c07e8010fff0b0000000000000100"
    )
    # c0 01 c1 | class(2) | obis(6) | attr | access-selection 01 | selector 01 | parameters
    v, p = axdr.decode(req, 14)
    frm = v[1][1][1]
    to = v[1][2][1]
    return {
        "value": _plain(v),
        "end": [p, len(req)],
        "from": axdr.datetime_to_seconds(frm),
        "to": axdr.datetime_to_seconds(to),
    }


def axdr_types():
    """Every supported tag encoded by the Writer and decoded back."""
    buf = bytearray(256)
    w = axdr.Writer(buf)
    w.structure(22)
    w.null()
    w.boolean(True)
    w.bit_string(10, b"\xa5\xc0")
    w.double_long(-2)
    w.double_long_unsigned(4294967295)
    w.octet_string(b"\x01\x02")
    w.visible_string("ABC")
    w.utf8_string("\u00e9")
    w.int_value(axdr.BCD, 0x42)
    w.integer(-128)
    w.long(-32768)
    w.unsigned(255)
    w.long_unsigned(65535)
    w.long64(-(1 << 63))
    w.long64_unsigned((1 << 64) - 1)
    w.enum(30)
    w.float32(1.5)
    w.float64(-0.25)
    w.fixed_octets(axdr.DATE_TIME, bytes.fromhex("07e8010fff0c000000000000"))
    w.fixed_octets(axdr.DATE, bytes.fromhex("07e8010f01"))
    w.fixed_octets(axdr.TIME, bytes.fromhex("0c000000"))
    w.array(0)
    enc = bytes(w.view())
    v = axdr.decode_all(enc)
    again = axdr.encode(v)
    # Long lengths: 0x81 and 0x82 forms
    lens = []
    for n in (127, 128, 255, 256, 70000):
        w2 = axdr.Writer(bytearray(8))
        w2.length(n)
        lens.append([_h(w2.view()), axdr.decode_length(w2.buf, 0, 8)[0]])
    return {"hex": _h(enc), "value": _plain(v), "roundtrip": again == enc, "lengths": lens}


def axdr_errors():
    cases = [
        "",  # empty
        "09",  # octet-string without length
        "0905aabb",  # length > remaining
        "0985",  # 5-byte length form
        "0980",  # zero-byte length form
        "01830000ff",  # array count > remaining
        "0203" + "11",  # structure with missing elements
        "13020100",  # compact-array rejected
        "07",  # unassigned tag 7
        "06001234",  # truncated double-long-unsigned
        "190102",  # truncated date-time
        "0a02ff00",  # visible-string that is not text
        "0401ff",  # 1-bit string, present
        "0409ff",  # 9 bits need 2 bytes
    ]
    out = []
    for c in cases:
        try:
            v = axdr.decode_all(bytes.fromhex(c))
            out.append(["ok", _plain(v)])
        except ProtocolError as e:
            out.append(["ProtocolError", str(e)])
    # Depth: 16 nested structures decode, 17 do not.
    ok16 = bytes.fromhex("0201" * 15 + "0200")
    bad17 = bytes.fromhex("0201" * 16 + "0200")
    depth = []
    for b in (ok16, bad17):
        try:
            axdr.decode_all(b)
            depth.append("ok")
        except ProtocolError:
            depth.append("ProtocolError")
    # Trailing bytes
    try:
        axdr.decode_all(bytes.fromhex("110100"))
        trailing = "ok"
    except ProtocolError:
        trailing = "ProtocolError"
    # Encoder bounds and ranges
    enc = []
    w = axdr.Writer(bytearray(4), 1, 3)
    try:
        w.double_long_unsigned(1)
        enc.append("ok")
    except EncodeOverflow:
        enc.append("EncodeOverflow-%d" % w.pos)
    for fn, v in ((w.integer, 128), (w.unsigned, -1), (w.long64_unsigned, 1 << 64)):
        try:
            fn(v)
            enc.append("ok")
        except EncodeOverflow:
            enc.append("EncodeOverflow")
        except ValueError:
            enc.append("ValueError")
    w.unsigned(7)
    enc.append(_h(w.buf))
    return {"cases": out, "depth": depth, "trailing": trailing, "encode": enc}


def datetimes():
    dt = bytes.fromhex("07e8010fff0c000000000000")
    s = axdr.datetime_to_seconds(dt)
    r = {"captured": s, "back": _h(axdr.seconds_to_datetime(s, weekday=False))}
    r["weekday"] = _h(axdr.seconds_to_datetime(s))
    r["gbcs"] = _h(axdr.seconds_to_datetime(s, deviation=None))
    r["cet"] = _h(axdr.seconds_to_datetime(s, deviation=-60))
    r["cet_back"] = axdr.datetime_to_seconds(axdr.seconds_to_datetime(s, deviation=-60))
    r["epoch"] = _h(axdr.seconds_to_datetime(0))
    r["leap"] = axdr.datetime_to_seconds(bytes.fromhex("07d0021dff173b3bff800000"))
    r["end_2099"] = _h(axdr.seconds_to_datetime(3155759999))
    into = bytearray(14)
    axdr.seconds_to_datetime(86400 + 3661, out=into, pos=2, status=0x80)
    r["into"] = _h(into)
    errs = []
    for h in (
        "ffff010fff0c000000000000",  # year unspecified
        "07e7021dff0c000000000000",  # 2023-02-29
        "07e8010fff18000000000000",  # hour 24
        "07e8010fff0c000000030000",  # deviation 768 > 720
        "07e8010fff0c0000",  # short
    ):
        try:
            axdr.datetime_to_seconds(bytes.fromhex(h))
            errs.append("ok")
        except ProtocolError:
            errs.append("ProtocolError")
    r["errors"] = errs
    return r
