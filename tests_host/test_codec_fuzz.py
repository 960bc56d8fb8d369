"""Property tests (hypothesis, CPython only) for the DLMS codecs (reliability.md §7, T12).

Seeds come from tests_host/data/dlms_vectors.json. Properties: only ProtocolError escapes a
decoder, the deframer never yields a frame that fails its checks, frame boundaries come back
after garbage, buffers stay at their preallocated size, and each input is handled within the
hypothesis deadline. FUZZ_EXAMPLES=<n> in the environment scales the example count up for
nightly runs.
"""

import json
import math
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.cosem import axdr, hdlc, wrapper
from firmware.cosem.errors import ProtocolError
from lib import aes_gcm

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "data", "dlms_vectors.json")) as _f:
    _SESSIONS = json.load(_f)["sessions"]
HDLC_FRAMES = [bytes.fromhex(it["frame"]) for s in _SESSIONS for it in s["items"] if "hdlc" in it]
WRAPPER_FRAMES = [
    bytes.fromhex(it["frame"]) for s in _SESSIONS for it in s["items"] if "wrapper" in it
]
APDUS = [
    bytes.fromhex(it.get("plain_apdu", it.get("apdu", "")))
    for s in _SESSIONS
    for it in s["items"]
    if "apdu" in it
]
DATA_SEEDS = [a[4:] for a in APDUS if a[:2] == b"\xc4\x01"] + [
    a[14:] for a in APDUS if a[:2] == b"\xc0\x01" and len(a) > 14
]

FUZZ = settings(
    max_examples=int(os.getenv("FUZZ_EXAMPLES", "300")),
    deadline=250,  # ms per input, generous for slow CI machines; typical is < 5 ms
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _chunks(data, sizes):
    out = []
    i = 0
    k = 0
    while i < len(data):
        n = sizes[k % len(sizes)] if sizes else len(data)
        out.append(data[i : i + n])
        i += n
        k += 1
    return out


@st.composite
def mutated(draw, seeds):
    """A seed with random bit flips, truncation, insertion or deletion."""
    b = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.integers(0, 3))
        if not b:
            break
        i = draw(st.integers(0, len(b) - 1))
        if op == 0:
            b[i] ^= 1 << draw(st.integers(0, 7))
        elif op == 1:
            del b[i:]
        elif op == 2:
            b[i:i] = draw(st.binary(min_size=1, max_size=8))
        else:
            del b[i]
    return bytes(b)


# ---------------------------------------------------------------- HDLC deframer


@FUZZ
@given(st.binary(max_size=3000), st.lists(st.integers(1, 300), max_size=8))
def test_deframer_random_bytes(data, sizes):
    d = hdlc.Deframer(300)
    cap = len(d._buf)
    for chunk in _chunks(data, sizes):
        for fr in d.feed(chunk):
            # Anything it yields is a well-formed frame that re-encodes and re-decodes.
            enc = fr.encode()
            again = hdlc.decode_frame(enc, 1, len(enc) - 1)
            assert again.control == fr.control and again.info == fr.info
        assert d._n <= cap and len(d._buf) == cap
    d.idle()
    assert d._n <= cap


@FUZZ
@given(
    st.binary(max_size=400),
    st.lists(st.sampled_from(HDLC_FRAMES), min_size=1, max_size=5),
    st.lists(st.integers(1, 64), max_size=6),
)
def test_deframer_recovers_frames_after_garbage(garbage, frames, sizes):
    d = hdlc.Deframer(hdlc.MAX_FRAME_LEN)
    out = []
    for chunk in _chunks(garbage + b"".join(frames), sizes):
        out += d.feed(chunk)
    out += d.idle()
    got = [f.encode() for f in out]
    assert got[len(got) - len(frames) :] == frames


@FUZZ
@given(mutated(HDLC_FRAMES), st.sampled_from(HDLC_FRAMES))
def test_deframer_mutated_frame_then_clean_frame(bad, good):
    d = hdlc.Deframer(hdlc.MAX_FRAME_LEN)
    out = d.feed(bad) + d.feed(good) + d.idle()
    assert out and out[-1].encode() == good


@FUZZ
@given(mutated(HDLC_FRAMES))
def test_decode_frame_only_protocol_error(data):
    try:
        hdlc.decode_frame(data, 1, max(1, len(data) - 1))
    except ProtocolError:
        pass
    try:
        hdlc.parse_params(data)
    except ProtocolError:
        pass


# ---------------------------------------------------------------- HDLC server


@st.composite
def client_frames(draw):
    dst = draw(st.sampled_from([b"\x03", b"\x02\x23", b"\x00\x02\x00\x23", b"\x05"]))
    src = draw(st.sampled_from([b"\x21", b"\x23", b"\x03"]))
    control = draw(
        st.one_of(
            st.sampled_from([0x93, 0x53, 0x10, 0x32, 0x11, 0x31, 0xF1, 0x15, 0x1F, 0x97]),
            st.integers(0, 255),
        )
    )
    info = draw(
        st.one_of(
            st.just(b""),
            st.builds(lambda b: hdlc.LLC_REQUEST + b, st.binary(max_size=140)),
            st.binary(max_size=140),
        )
    )
    return hdlc.encode_frame(dst, src, control, info, draw(st.booleans()))


@FUZZ
@given(st.lists(client_frames(), max_size=30), st.binary(max_size=200))
def test_server_survives_any_frame_sequence(frames, answer):
    sent = []

    def send(mv):
        sent.append(bytes(mv))

    srv = hdlc.HdlcServer(send, lambda sap, ld, apdu: answer, physical=17, max_apdu=512)
    for f in frames:
        srv.feed(f)
    srv.idle()
    for b in sent:
        fr = hdlc.decode_frame(b, 1, len(b) - 1)  # every reply is a valid frame
        assert len(fr.info) <= srv.max_info  # segmentation holds, LLC included
        assert fr.dst in (b"\x21", b"\x23", b"\x03")
    assert srv.state in (hdlc.NDM, hdlc.NRM, hdlc.FRAME_REJECT)


# ---------------------------------------------------------------- wrapper


@FUZZ
@given(st.binary(max_size=3000), st.lists(st.integers(1, 100), max_size=6))
def test_wrapper_random_bytes(data, sizes):
    d = wrapper.WrapperDecoder(1024)
    cap = len(d._buf)
    try:
        for chunk in _chunks(data, sizes):
            for src, dst, apdu in d.feed(chunk):
                assert 0 < len(apdu) <= 1024 and 0 <= src <= 0xFFFF and 0 <= dst <= 0xFFFF
    except ProtocolError:
        pass
    assert len(d._buf) == cap


@FUZZ
@given(
    st.lists(st.sampled_from(WRAPPER_FRAMES), min_size=1, max_size=6),
    st.lists(st.integers(1, 50), max_size=6),
)
def test_wrapper_any_chunking(frames, sizes):
    d = wrapper.WrapperDecoder(1024)
    out = []
    for chunk in _chunks(b"".join(frames), sizes):
        out += d.feed(chunk)
    assert [wrapper.encode(*x) for x in out] == frames


@FUZZ
@given(mutated(WRAPPER_FRAMES))
def test_wrapper_mutated_only_protocol_error(data):
    try:
        wrapper.WrapperDecoder(256).feed(data)
    except ProtocolError:
        pass


# ---------------------------------------------------------------- A-XDR


@FUZZ
@given(st.one_of(st.binary(max_size=600), mutated(DATA_SEEDS)))
def test_axdr_only_protocol_error(data):
    try:
        v, pos = axdr.decode(data)
    except ProtocolError:
        return
    assert 0 < pos <= len(data)
    # Whatever decodes re-encodes, and that encoding is a fixed point (the input itself may
    # differ: any non-zero boolean byte, non-minimal length forms).
    enc = axdr.encode(v, 4096)
    assert axdr.encode(axdr.decode_all(enc), 4096) == enc or _has_nan(v)


def _has_nan(tv):
    tag, v = tv
    if tag in (axdr.ARRAY, axdr.STRUCTURE):
        return any(_has_nan(x) for x in v)
    # a float32 NaN payload may change on its way through a double
    return isinstance(v, float) and math.isnan(v)


_ints = st.one_of(
    st.tuples(st.just(axdr.INTEGER), st.integers(-128, 127)),
    st.tuples(st.just(axdr.LONG), st.integers(-32768, 32767)),
    st.tuples(st.just(axdr.UNSIGNED), st.integers(0, 255)),
    st.tuples(st.just(axdr.LONG_UNSIGNED), st.integers(0, 65535)),
    st.tuples(st.just(axdr.DOUBLE_LONG), st.integers(-(2**31), 2**31 - 1)),
    st.tuples(st.just(axdr.DOUBLE_LONG_UNSIGNED), st.integers(0, 2**32 - 1)),
    st.tuples(st.just(axdr.LONG64), st.integers(-(2**63), 2**63 - 1)),
    st.tuples(st.just(axdr.LONG64_UNSIGNED), st.integers(0, 2**64 - 1)),
    st.tuples(st.just(axdr.ENUM), st.integers(0, 255)),
)
_leaves = st.one_of(
    _ints,
    st.just((axdr.NULL_DATA, None)),
    st.just((axdr.ARRAY, [])),
    st.tuples(st.just(axdr.BOOLEAN), st.booleans()),
    st.tuples(st.just(axdr.OCTET_STRING), st.binary(max_size=300)),
    st.tuples(
        st.just(axdr.VISIBLE_STRING),
        st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20),
    ),
    st.tuples(st.just(axdr.UTF8_STRING), st.text(max_size=10)),
    st.tuples(st.just(axdr.DATE_TIME), st.binary(min_size=12, max_size=12)),
    st.tuples(st.just(axdr.FLOAT64), st.floats(allow_nan=False)),
)
_values = st.recursive(
    _leaves,
    lambda kids: st.tuples(
        st.sampled_from([axdr.ARRAY, axdr.STRUCTURE]), st.lists(kids, min_size=1, max_size=5)
    ),
    max_leaves=30,
)


@FUZZ
@given(_values)
def test_axdr_round_trip(v):
    enc = axdr.encode(v, 1 << 16)
    assert axdr.decode_all(enc) == v


@FUZZ
@given(st.integers(17, 200))
def test_axdr_depth_limit(depth):
    data = b"\x02\x01" * (depth - 1) + b"\x02\x00"
    try:
        axdr.decode_all(data)
        raise AssertionError("nesting of %d accepted" % depth)
    except ProtocolError:
        pass


@FUZZ
@given(st.integers(0, 3155759999), st.integers(-720, 720))
def test_datetime_round_trip(secs, deviation):
    if secs - deviation * 60 < 0 or secs - deviation * 60 > 3155759999:
        return
    b = axdr.seconds_to_datetime(secs, deviation=deviation)
    assert axdr.datetime_to_seconds(b) == secs


# ---------------------------------------------------------------- AES-GCM


@FUZZ
@given(
    st.binary(min_size=16, max_size=16),
    st.binary(min_size=12, max_size=12),
    st.binary(max_size=300),
    st.binary(max_size=60),
)
def test_gcm_against_openssl(key, iv, plain, aad):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    ct, tag = aes_gcm.AesGcm(key).encrypt(iv, plain, aad)
    assert ct + tag == AESGCM(key).encrypt(iv, plain, aad)


@FUZZ
@given(mutated([bytes.fromhex("411312ff935a47566827c467bc7d825c3be4a77c3fcc056b6b")]))
def test_dlms_decrypt_rejects_any_change(data):
    ek = bytes(range(16))
    ak = bytes(range(0xD0, 0xE0))
    title = bytes.fromhex("4D4D4D0000BC614E")
    good = bytes.fromhex("411312ff935a47566827c467bc7d825c3be4a77c3fcc056b6b")
    try:
        plain = aes_gcm.dlms_decrypt(0x30, title, 0x01234567, ek, ak, data)
    except ValueError:  # AuthError or too short
        assert data != good
        return
    assert data == good and plain.hex() == "c0010000080000010000ff0200"
