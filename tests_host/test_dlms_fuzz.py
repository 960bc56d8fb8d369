"""Fuzzing the COSEM application layer (reliability.md §7, T12; issue 5 item 7).

hypothesis drives the pure-Python decoders that ship to MicroPython: arbitrary bytes and
mutations of the captured APDUs (dlms_vectors.json) go into the AARQ/RLRQ/request parsers and
into CosemServer.handle in every association state (none, public, LLS, HLS pending and
complete). Must hold: the parsers raise only ProtocolError (or NotImplementedError for an
unsupported service), the server never raises and never counts an internal error, and every
answer is a well-formed APDU tag. A soak feeds 10,000 malformed HDLC frames through the same
HDLC session the comms task uses, then a valid session is still served.

Quick profile in `make test` (default). Long run:
    DLMS_FUZZ_EXAMPLES=200000 .venv/bin/python -m pytest -q tests_host/test_dlms_fuzz.py
"""

import json
import os
import random

import sc_cosem
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.cosem import apdu, hdlc
from firmware.cosem.errors import ProtocolError
from firmware.cosem.server import CosemServer

EXAMPLES = int(os.environ.get("DLMS_FUZZ_EXAMPLES", "300"))
VECTORS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "dlms_vectors.json")
REPLY_TAGS = {0x61, 0x63, 0xC4, 0xC5, 0xC7, 0xD8, 0xDB, 0xCC, 0xCD, 0xCF}


def _seeds():
    with open(VECTORS) as f:
        v = json.load(f)
    out = []
    for s in v["sessions"]:
        for it in s["items"]:
            if it["dir"] == "C->S" and it.get("apdu"):
                out.append(bytes.fromhex(it["apdu"]))
            if it.get("plain_apdu") and it["dir"] == "C->S":
                out.append(bytes.fromhex(it["plain_apdu"]))
    return out


SEEDS = _seeds()
METER = sc_cosem._filled_meter(30)
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def mutated(draw):
    base = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.integers(0, 3))
        if not base:
            break
        i = draw(st.integers(0, len(base) - 1))
        if op == 0:
            base[i] = draw(st.integers(0, 255))
        elif op == 1:
            del base[i:]
        elif op == 2:
            base[i:i] = draw(st.binary(max_size=8))
        else:
            base[i] ^= 1 << draw(st.integers(0, 7))
    return bytes(base)


APDUS = st.one_of(st.binary(max_size=300), mutated())


@SETTINGS
@given(APDUS)
def test_parsers_raise_only_protocol_errors(data):
    for fn in (apdu.parse_aarq, apdu.parse_rlrq, apdu.parse_request, apdu.parse_initiate_request):
        try:
            fn(data)
        except (ProtocolError, NotImplementedError):
            pass


def _server_in_state(state):
    srv = CosemServer(METER, rng=lambda n: b"S" * n)
    # Fuzzed AARQs count as failed authentications: clear the lockout between examples.
    c = srv.security._cnt.buf
    c[16:32] = bytes(16)
    if state == "public":
        srv.handle(16, 1, sc_cosem.aarq(1))
    elif state == "reader":
        srv.handle(17, 1, sc_cosem.aarq(1, 1, password=b"12345678"))
    elif state in ("hls_pending", "hls"):
        ic = srv.security.last_peer_ic(0) + 1
        ui = sc_cosem.glo(ic, bytes.fromhex("01000000065f1f040060525f0400"))
        srv.handle(1, 1, sc_cosem.aarq(3, 5, ui=ui, ctos=b"C" * 16))
        if state == "hls":
            tag = sc_cosem.aes_gcm.hls_gmac(
                0x10, sc_cosem.CLIENT_TITLE, ic + 1, sc_cosem.EK, sc_cosem.AK, b"S" * 16
            )
            act = (
                bytes.fromhex("c301c0000f0000280000ff0101")
                + b"\x09\x11\x10"
                + (ic + 1).to_bytes(4, "big")
                + tag
            )
            r = srv.handle(1, 1, sc_cosem.gglo(ic + 1, act))
            assert r[0] == 0xDB
    return srv


@SETTINGS
@given(
    st.sampled_from(["none", "public", "reader", "hls_pending", "hls"]),
    st.lists(APDUS, min_size=1, max_size=4),
    st.sampled_from([16, 17, 1, 2]),
)
def test_server_never_raises(state, apdus, sap):
    srv = _server_in_state(state)
    for data in apdus:
        r = srv.handle(sap, 1, data)
        assert r is None or (isinstance(r, bytes) and r[0] in REPLY_TAGS)
    assert srv.internal_errors == 0


def test_ten_thousand_malformed_hdlc_frames_then_a_valid_session():
    srv = CosemServer(METER)
    sent = []
    session = hdlc.HdlcServer(
        sent.append,
        lambda s, l, a: srv.handle(s, l, a, "soak"),
        on_link=lambda c, s: srv.on_link(c, s, "soak"),
    )
    rnd = random.Random(5)
    good = [bytes.fromhex(x) for x in ("7ea0070321930f017e",)]
    aarq = bytes.fromhex("601da109060760857405080101be10040e01000000065f1f0400401e5dffff")
    frames = 0
    for _ in range(10000):
        kind = rnd.randrange(4)
        if kind == 0:
            f = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 60)))
        else:
            info = b"\xe6\xe6\x00" + bytes(rnd.randrange(256) for _ in range(rnd.randrange(40)))
            f = bytearray(hdlc.encode_frame(b"\x03", b"\x21", hdlc.i_control(0, 0), info))
            if kind == 1:
                f[rnd.randrange(1, len(f) - 1)] ^= 1 << rnd.randrange(8)  # bad HCS/FCS
            elif kind == 2:
                f[2] = rnd.randrange(256)  # bad length
            else:
                f = good[0] + bytes(f)  # connect, then an I-frame with a random APDU
        session.feed(f)
        frames += 1
    assert srv.internal_errors == 0
    session.disconnect()
    sent.clear()
    session.feed(hdlc.encode_frame(b"\x03", b"\x21", hdlc.u_control(hdlc.SNRM)))
    session.feed(hdlc.encode_frame(b"\x03", b"\x21", hdlc.i_control(0, 0), b"\xe6\xe6\x00" + aarq))
    aare = hdlc.decode_frame(sent[-1], 1, len(sent[-1]) - 1).info
    assert aare[3:].startswith(bytes.fromhex("6129a109060760857405080101a203020100"))
    assert frames == 10000
