"""firmware/cosem/axdr: A-XDR Data codec and DLMS date-time helpers."""

import os

from mpy import run_scenario

VECTORS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "dlms_vectors.json")

_DT = "07e8010fff0a%02x0000000000"


def test_captured_get_responses_decode(interp):
    r = run_scenario(interp, "sc_dlms_codec", "axdr_vectors", VECTORS)
    by_apdu = {x["apdu"]: x for x in r}
    assert all(x["same"] for x in r)  # re-encoding gives the captured bytes
    assert len(r) == 7
    # dlms.md §10: scaler_unit = structure {integer -2, enum 30 (Wh)}
    assert by_apdu["c401c10002020ffe161e"]["value"] == [2, [[15, -2], [22, 30]]]
    assert by_apdu["c401c100060012d687"]["value"] == [6, 1234567]
    assert by_apdu["c401c1000600000008"]["value"] == [6, 8]
    assert by_apdu["c401c100090c07e8010fff0c000000000000"]["value"] == [
        9,
        "07e8010fff0c000000000000",
    ]
    capture = [
        [2, [[18, 8], [9, "0000010000ff"], [15, 2], [18, 0]]],
        [2, [[18, 3], [9, "0100010800ff"], [15, 2], [18, 0]]],
    ]
    assert [x["value"] for x in r if x["value"][0] == 1][0] == [1, capture]
    rows = [x["value"] for x in r if x["value"][0] == 1][1]
    assert rows == [
        1,
        [
            [
                2,
                [
                    [9, "07e8010fff%02x%02x0000000000" % (10 + m // 60, m % 60)],
                    [6, 1230000 + 100 * n],
                ],
            ]
            for n, m in enumerate(range(0, 120, 15))
        ],
    ]
    selected = [x["value"] for x in r if x["value"][0] == 1][2]
    assert selected == [1, rows[1][2:5]]


def test_selective_access_descriptor(interp):
    r = run_scenario(interp, "sc_dlms_codec", "axdr_selective_access")
    assert r["value"] == [
        2,
        [
            [2, [[18, 8], [9, "0000010000ff"], [15, 2], [18, 0]]],
            [9, _DT % 30],
            [9, "07e8010fff0b000000000000"],
            [1, []],
        ],
    ]
    assert r["end"] == [64, 64]
    # 2024-01-15 10:30 and 11:00 UTC in meter seconds (since 2000-01-01)
    assert r["from"] == 758629800
    assert r["to"] == 758631600


def test_every_tag_round_trips(interp):
    r = run_scenario(interp, "sc_dlms_codec", "axdr_types")
    assert r["roundtrip"] is True
    assert r["hex"] == "".join(
        (
            "0216",
            "00",
            "03ff",
            "040aa5c0",
            "05fffffffe",
            "06ffffffff",
            "090201020a03414243",
            "0c02c3a9",
            "0d42",
            "0f80",
            "108000",
            "11ff",
            "12ffff",
            "148000000000000000",
            "15ffffffffffffffff",
            "161e",
            "173fc00000",
            "18bfd0000000000000",
            "1907e8010fff0c000000000000",
            "1a07e8010f01",
            "1b0c000000",
            "0100",
        )
    )
    assert r["value"] == [
        2,
        [
            [0, None],
            [3, True],
            [4, [10, "a5c0"]],
            [5, -2],
            [6, 4294967295],
            [9, "0102"],
            [10, "ABC"],
            [12, "\u00e9"],
            [13, 0x42],
            [15, -128],
            [16, -32768],
            [17, 255],
            [18, 65535],
            [20, -(2**63)],
            [21, 2**64 - 1],
            [22, 30],
            [23, 1.5],
            [24, -0.25],
            [25, "07e8010fff0c000000000000"],
            [26, "07e8010f01"],
            [27, "0c000000"],
            [1, []],
        ],
    ]
    assert r["lengths"] == [
        ["7f", 127],
        ["8180", 128],
        ["81ff", 255],
        ["820100", 256],
        ["83011170", 70000],
    ]


def test_malformed_data_raises_protocol_error(interp):
    r = run_scenario(interp, "sc_dlms_codec", "axdr_errors")
    assert [c[0] for c in r["cases"]] == ["ProtocolError"] * 12 + ["ok", "ProtocolError"]
    assert [c[1] for c in r["cases"][:12]] == [
        "truncated data",
        "truncated length",
        "string length exceeds data",
        "bad length form",
        "bad length form",
        "element count exceeds data",
        "element count exceeds data",
        "unsupported data tag",  # compact-array is rejected
        "unsupported data tag",
        "truncated integer",
        "truncated date/time",
        "visible-string not ASCII",
    ]
    assert r["cases"][12] == ["ok", [4, [1, "ff"]]]
    assert r["depth"] == ["ok", "ProtocolError"]  # 16 levels decode, 17 do not
    assert r["trailing"] == "ProtocolError"
    # Writer confined to buf[1:3]: overflow leaves the cursor, ranges are checked, and a
    # 2-byte value lands exactly in the window.
    assert r["encode"] == [
        "EncodeOverflow-1",
        "ValueError",
        "ValueError",
        "ValueError",
        "00110700",
    ]


def test_date_time_conversions(interp):
    r = run_scenario(interp, "sc_dlms_codec", "datetimes")
    assert r["captured"] == 758635200  # 2024-01-15 12:00:00 UTC
    assert r["back"] == "07e8010fff0c000000000000"  # byte-exact with the capture
    assert r["weekday"] == "07e8010f010c000000000000"  # a Monday
    assert r["gbcs"] == "07e8010f010c000000800000"  # deviation not specified
    assert r["cet"] == "07e8010f010d000000ffc400"  # local 13:00, deviation -60
    assert r["cet_back"] == 758635200
    assert r["epoch"] == "07d001010600000000000000"  # 2000-01-01 was a Saturday
    assert r["leap"] == 59 * 86400 + 86399  # 2000-02-29 23:59:59
    assert r["end_2099"] == "08330c1f04173b3b00000000"
    assert r["into"] == "000007d001020701010100000080"
    # year unspecified, 2023-02-29, hour 24, deviation 768, short buffer
    assert r["errors"] == ["ProtocolError"] * 5
