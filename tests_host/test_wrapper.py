"""firmware/cosem/wrapper: IEC 62056-47 framing against the captured wrapper sessions."""

import json
import os

from mpy import run_scenario

VECTORS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "dlms_vectors.json")


def _wrapper_items():
    with open(VECTORS) as f:
        sessions = json.load(f)["sessions"]
    return [it for s in sessions for it in s["items"] if "wrapper" in it]


def test_captured_wrapper_frames(interp):
    r = run_scenario(interp, "sc_dlms_codec", "wrapper_vectors", VECTORS)
    items = _wrapper_items()
    assert len(r["items"]) == len(items) == 74
    for got, it in zip(r["items"], items):
        w = it["wrapper"]
        assert w["version"] == "0001"
        assert got == {
            "n": 1,
            "src": w["src_wport"],
            "dst": w["dst_wport"],
            "length": w["length"],
            "apdu": it["apdu"],
            "reencoded": True,
        }
    assert r["stream"] == 74
    assert r["chunked_same"] is True


def test_wrapper_errors_and_partial_input(interp):
    r = run_scenario(interp, "sc_dlms_codec", "wrapper_errors")
    # version 2, zero length, length above max: ProtocolError that stays until reset().
    assert r[0:3] == ["ProtocolError-sticky-reset-1"] * 3
    assert r[3] == [0, 16, 1, "6203800100"]
    assert r[4] == [9, "00000100010010000500"]
    assert r[5] == "ValueError"
