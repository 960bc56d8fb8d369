"""firmware/cosem/hdlc: frames, deframer and the server state machine vs the captures."""

import json
import os

from mpy import run_scenario

VECTORS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "dlms_vectors.json")


def _hdlc_items():
    with open(VECTORS) as f:
        sessions = json.load(f)["sessions"]
    return [it for s in sessions for it in s["items"] if "hdlc" in it]


def test_captured_frames_parse_and_reencode(interp):
    got = run_scenario(interp, "sc_dlms_codec", "hdlc_vectors", VECTORS)
    items = _hdlc_items()
    assert len(got) == len(items) == 24
    for g, it in zip(got, items):
        h = it["hdlc"]
        assert h["fcs_ok"] and h.get("hcs_ok", True)
        assert g["format"] == h["format"]
        assert g["segmented"] == h["segmented"]
        assert g["dst"] == h["dst"] and g["src"] == h["src"]
        assert g["control"] == h["control"]
        assert g["kind"] == h["kind"]
        assert g["info"] == h["info"]
        assert g["reencoded"] == it["frame"]
        assert g["flags"] == [0x7E, 0x7E]
        assert [g["server_upper"], g["server_lower"]] == [1, None]


def test_addresses(interp):
    r = run_scenario(interp, "sc_dlms_codec", "addresses")
    assert r["forms"] == [
        ["03", [1, None]],
        ["0223", [1, 17]],  # dlms.md §2: LD 1, physical 17, 2 bytes
        ["00020023", [1, 17]],  # ... 4 bytes
        ["fefefefd", [16383, 16382]],
        ["fe01", [127, 0]],
    ]
    assert r["errors"] == ["ValueError"] * 5 + ["ProtocolError"]


def test_control_fields(interp):
    r = run_scenario(interp, "sc_dlms_codec", "controls")
    assert r["names"] == [
        "SNRM",
        "UA",
        "DISC",
        "DM",
        "FRMR",
        "UI",
        "RR N(R)=7",
        "RNR N(R)=7",
        "I N(S)=3 N(R)=3 P/F=1",
        "INVALID",  # REJ
        "INVALID",  # SREJ
        "INVALID",  # unassigned U-frame
        "I N(S)=0 N(R)=0 P/F=1",
    ]
    assert r["built"] == [0x96, 0xF1, 0x45, 0x93, 0x1F, 0x97]


def test_snrm_ua_parameters(interp):
    r = run_scenario(interp, "sc_dlms_codec", "params")
    assert r["ua"] == [128, 128, 1, 1]
    assert r["snrm"] == [512, 256, 1, 1]
    assert r["empty"] == [128, 128, 1, 1]
    assert r["build_default"] == "818012050180060180070400000001080400000001"  # captured UA
    assert r["build_big"] == "8180140502020006020100070400000001080400000001"
    assert r["errors"] == ["ProtocolError"] * 5


def test_deframer_on_captured_stream(interp):
    r = run_scenario(interp, "sc_dlms_codec", "deframer_stream", VECTORS)
    assert r == {
        "count": 24,
        "whole": [True] * 24,
        "bytewise": 24,
        "bytewise_same": True,
        "shared_flag": 24,
        "dropped": 0,
    }


def test_deframer_recovers_from_garbage(interp):
    r = run_scenario(interp, "sc_dlms_codec", "deframer_garbage", VECTORS)
    assert r["plain_garbage"] == [2, 25]
    # The fake header holds the frames until the line goes idle, then both come out.
    assert r["fake_header"] == [0, True, 1]
    assert r["flag_in_info"] == [1, "c001c1000301000108007e0200"]
    assert r["bad_crc"] == [1, 0x93, 3]
    assert r["oversize"] == [1, 0x93]
    # Only the cut right before the closing flag yields the truncated frame too (the
    # SNRM's opening flag closes it).
    assert r["truncations"] == [[26, [0x76, 0x93]]]


def test_server_replays_the_gurux_capture(interp):
    r = run_scenario(interp, "sc_dlms_codec", "session_replay", VECTORS)
    with open(VECTORS) as f:
        items = [s for s in json.load(f)["sessions"] if s["transport"] != "wrapper"][0]["items"]
    expected = []
    for it in items:
        if it["dir"] == "C->S":
            expected.append([it["what"], []])
        else:
            expected[-1][1].append(it["frame"])
    assert [x[0] for x in r["replies"]] == [x[0] for x in expected]
    for got, exp in zip(r["replies"], expected):
        if got[0] in ("GET.request-normal class=7 1.0.99.1.0.255 attr=2", "RR N(R)=7"):
            continue  # the segmented reply: checked below
        assert got[1] == exp[1], got[0]
    # The reference meter cut the first segment at 125 info bytes; this server fills the
    # negotiated 128. Same controls (N(S)=6 then 7), same reassembled APDU.
    seg = r["replies"][7][1] + r["replies"][8][1]
    assert [f[10:12] for f in seg] == ["fc", "fe"]  # 7E format(2) dst src control
    assert [f[2:4] for f in seg] == ["a8", "a0"]
    first = bytes.fromhex(seg[0])[8:-3]  # after control + HCS, before FCS + flag
    info = first + bytes.fromhex(seg[1])[8:-3]
    assert len(first) == 128
    assert info.hex() == "e6e700" + items[17]["apdu"]
    assert r["apdus"] == 9
    assert r["events"] == [[True, 16], [False, 16]]
    assert r["state"] == 0
    assert r["max_info"] == [128, 128]


def test_server_link_rules(interp):
    r = run_scenario(interp, "sc_dlms_codec", "session_rules")
    c, s = "21", "00020023"  # answers keep the 4-byte server address form
    assert r["ndm_i_frame"] == [[c, s, "DM", False]]
    assert r["ndm_disc"] == [[c, s, "DM", False]]
    assert r["wrong_physical"] == [] and r["wrong_ld"] == []
    assert r["snrm_4byte"] == [[c, s, "UA", False]]
    assert r["ua_info"] == "818012050180060180070400000001080400000001"
    assert r["other_client_ignored"] == []
    # 300-byte answer: LLC + 125, 128, 47 bytes; RR N(R)=V(S)-1 repeats; a polled RNR is
    # answered RR F=1 with our N(R) and holds the next segment until the client's RR.
    assert r["get_big"] == [[c, s, "I N(S)=0 N(R)=1 P/F=1", True]]
    assert r["rr_lost_repeat"] == [[c, s, "I N(S)=0 N(R)=1 P/F=1", True]]
    assert r["rnr"] == [[c, s, "RR N(R)=1", False]]
    assert r["rr_next"] == [[c, s, "I N(S)=1 N(R)=1 P/F=1", True]]
    assert r["rr_last"] == [[c, s, "I N(S)=2 N(R)=1 P/F=1", False]]
    assert r["segments"] == [128, 128, 47]
    assert r["reassembled_ok"] is True
    assert r["rr_idle"] == [[c, s, "RR N(R)=1", False]]
    # Segmented request: RR per segment (a repeated segment is not appended twice).
    assert r["seg_req_1"] == [[c, s, "RR N(R)=2", False]]
    assert r["seg_req_repeat"] == [[c, s, "RR N(R)=2", False]]
    assert r["seg_req_2"] == [[c, s, "I N(S)=3 N(R)=3 P/F=1", True]]
    assert r["seg_req_apdu"] == [16, 1, "c001c100030100010800ff0200"]
    assert r["drain"] == [
        [c, s, "I N(S)=4 N(R)=3 P/F=1", True],
        [c, s, "I N(S)=5 N(R)=3 P/F=1", False],
    ]
    assert r["out_of_seq"] == [[c, s, "RR N(R)=3", False]]
    assert r["out_of_seq_delivered"] == 0
    assert r["bad_llc"] == [[c, s, "RR N(R)=4", False]]
    assert r["llc_errors"] == 1
    # FRMR: rejected control 0x58, V(S)=6 V(R)=4, Z (invalid N(R)).
    assert r["bad_nr"] == [[c, s, "FRMR", False]]
    assert r["frmr_info"] == "588c08"
    assert r["in_frmr"] == [[c, s, "FRMR", False]]
    assert r["disc"] == [[c, s, "UA", False]]
    assert r["state_after_disc"] == 0
    assert r["invalid_control"] == [[c, s, "FRMR", False]]
    assert r["frmr_w"] == "090001"
    assert r["rr_with_info"] == [[c, s, "FRMR", False]]
    assert r["frmr_wx"] == "110003"
    assert r["events"] == [[True, 16], [False, 16], [True, 16], [False, 16], [True, 16]]


def test_server_negotiation_and_limits(interp):
    r = run_scenario(interp, "sc_dlms_codec", "session_negotiation")
    # Client sends up to 200 and receives 64; server max 256 -> TX 64, RX 200.
    assert r["ua"] == "8180120501400601c8070400000001080400000001"
    assert r["negotiated"] == [64, 200]
    assert r["too_long"] == ["FRMR", "100004", 2]  # Y: information field too long
    assert r["oversize_replies"] == 0
    assert r["overflow"] == ["FRMR", "124004"]  # reassembly above max_apdu (64)
    assert r["delivered"] == 0
    assert r["bad_snrm"] == ["DM", 0]


def test_rnr_is_answered_and_holds_the_segment(interp):
    # IEC 62056-46 (NRM, ISO/IEC 13239): a secondary station that is polled must answer,
    # with the final bit set. RNR = the client is busy, so the answer is RR, never an I-frame.
    r = run_scenario(interp, "sc_cosem", "hdlc_rnr")
    assert r["first"] == ["I N(S)=1 N(R)=2 P/F=1"]  # first segment of the GET reply
    # 7E | A0 07 | dst 21 (client 16) | src 03 (LD 1) | control 51 = RR N(R)=2 F=1 |
    # FCS 11 42 (CRC-16/X.25 of A0 07 21 03 51, LSB first) | 7E
    rr_f = "7ea00721035111427e"
    assert r["rnr_poll"] == [rr_f]
    assert r["rnr_no_poll"] == []  # not polled: a secondary says nothing
    assert r["rnr_poll_again"] == [rr_f]  # still busy: still no segment
    assert r["rnr_poll_nr1"] == [rr_f]  # N(R)=1 (our N(S)=1 was lost): held as well
    assert r["rr_repeat_same"] is True  # RR N(R)=1 then repeats that segment byte for byte
    assert r["after_rr"] == [["I N(S)=2 N(R)=2 P/F=1"]]  # RR N(R)=2: the held last segment
    assert r["segments"] == [128, 109]
    assert r["reassembled_ok"] is True  # LLC E6 E7 00 + the same APDU as served directly
    assert r["rnr_idle"] == [rr_f]  # nothing pending: a polled RNR is still answered
    assert r["vs_vr"] == [3, 2]
