"""ST7567 driver + model, the render helpers and the CPython framebuf shim."""

import hashlib
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpy import run_scenario

# Commands the driver sends at power-up, after the reset step (ST7567 instruction table):
# bias 1/9, SEG normal, COM normal, start line 0, regulation ratio 5, volume 0x81 + 40,
# booster, +regulator, +follower, normal (not inverse), RAM display (not all-on), then the
# RAM clear (page address + column 0 for pages 0..7), then display on.
INIT_AFTER_RESET = [0xA2, 0xA0, 0xC0, 0x40, 0x25, 0x81, 40, 0x2C, 0x2E, 0x2F, 0xA6, 0xA4]
CLEAR = [b for p in range(8) for b in (0xB0 | p, 0x10, 0x00)]


def test_init_sequence_with_reset_pin(interp):
    r = run_scenario(interp, "sc_ui_hw", "lcd_init_bytes", True)
    assert r["commands"] == [*INIT_AFTER_RESET, *CLEAR, 0xAF]
    assert r["data_bytes"] == 1024
    assert r["init_ok"] is True
    # RSTB high 1 ms, low 1 ms, high 1 ms; 10 ms after each power-circuit stage.
    assert r["sleeps"] == [1, 1, 1, 10, 10, 10]
    assert r["sim_ms"] == 33
    assert r["resets"] == 2  # the pin sat low at power-up, then the driver's pulse
    assert r["visible"] is True
    assert r["blank"] == 0  # RAM junk cleared before the display came on
    assert r["volume"] == 40
    assert r["regulation"] == 5


def test_init_sequence_soft_reset(interp):
    r = run_scenario(interp, "sc_ui_hw", "lcd_init_bytes", False)
    assert r["commands"] == [0xE2, *INIT_AFTER_RESET, *CLEAR, 0xAF]
    assert r["sleeps"] == [1, 10, 10, 10]
    assert r["init_ok"] is True
    assert r["resets"] == 1
    assert r["blank"] == 0


@pytest.mark.parametrize(
    "config, expect",
    [
        # driver flip_x, flip_y, glass wired mirrored x, y -> which comparison is perfect
        ((False, False, False, False), "same"),
        ((True, False, True, False), "same"),  # ADC reverse + column offset 4 on a mirrored glass
        ((False, True, False, True), "same"),  # COM reverse on a glass wired bottom-up
        ((True, True, True, True), "same"),
        ((True, True, False, False), "rot180"),  # both flips on a plain glass = rotate 180
        ((True, False, False, False), "mirror_x"),  # ADC reverse alone mirrors left-right
        ((False, True, False, False), "mirror_y"),
    ],
)
def test_show_reproduces_framebuffer(interp, config, expect):
    r = run_scenario(interp, "sc_ui_hw", "lcd_show_pattern", *config)
    assert r["init_ok"] is True
    assert r["lit"] == 1048  # the drawing really has dots in it
    assert r[expect] == 128 * 64
    others = {"same", "mirror_x", "mirror_y", "rot180"} - {expect}
    assert all(r[k] < 128 * 64 for k in others)


def test_model_requires_power_up_flow(interp):
    r = run_scenario(interp, "sc_ui_hw", "lcd_without_init")
    assert r == {
        "before": [False, False],
        "after": [True, True],
        "after_reset": False,
        "junk_on_glass": True,
    }


def test_lcd_controls(interp):
    r = run_scenario(interp, "sc_ui_hw", "lcd_controls")
    assert r == {
        "lit": 64 * 64,
        "volume": 50,
        "inverted_lit": 64 * 64,
        "inverted_corner": [0, 1],
        "off_lit": 0,
        "off_state": [False, True],
        "on_lit": 64 * 64,
        "bad_contrast_errors": 2,
        "volume_after_bad": 50,
        "col_end": [1, 4, 131],  # 0x02 landed on 131, then 0x03 and 0x04 overwrote it
        "page_after": 2,
        "icon": 1,
        "unknown": 0,
        "start_line_row": [56],
    }


def test_render_small_pattern(interp):
    r = run_scenario(interp, "sc_ui_hw", "lcd_render_small")
    assert r["text"] == (
        "\u250c\u2500\u2500\u2500\u2500\u2500\u2510\n"
        "\u2502\u2588\u2584\u2580 \u2588\u2502\n"
        "\u2502 \u2580\u2580  \u2502\n"
        "\u2514\u2500\u2500\u2500\u2500\u2500\u2518"
    )
    # P4, width 5, height 3; rows 10101 / 11001 / 01100 packed MSB first.
    assert bytes(r["pbm"]) == b"P4\n5 3\n" + bytes([0b10101000, 0b11001000, 0b01100000])


def test_render_full_screen(interp):
    r = run_scenario(interp, "sc_ui_hw", "lcd_render_screen")
    assert r["n_lines"] == 34  # frame + 32 text rows
    assert r["lines"][0] == "\u250c" + "\u2500" * 128 + "\u2510"
    # "Hi" in MicroPython's 8x8 font, top-left.
    full, up, low, bar = "\u2588", "\u2580", "\u2584", "\u2502"
    pad = " " * 115
    assert r["lines"][1] == bar + " " + full * 2 + "  " + full * 2 + "    " + up * 2 + pad + bar
    assert (
        r["lines"][2] == bar + " " + full * 2 + low * 2 + full * 2 + "    " + full * 2 + pad + bar
    )
    assert r["pbm_len"] == 10 + 16 * 64
    assert bytes(r["pbm_head"][:10]) == b"P4\n128 64\n"
    assert r["pbm_head"][10:12] == [0b01100110, 0b00011000]


def test_show_allocates_nothing(interp):
    assert run_scenario(interp, "sc_ui_hw", "lcd_show_allocates_nothing") == {
        "ok": True,
        "same": True,
    }


def test_screen_redraws_only_the_pages_that_changed(interp):
    r = run_scenario(interp, "sc_ui_hw", "screen_partial_redraw")
    page = 3 + 128  # page address command + one 128-column page
    assert r["sent"] == [
        [True, 8 * page],  # the first draw sends every page
        [False, 0],  # nothing changed: nothing sent
        [True, 1 * page],  # a new minute: the bottom line, page 7
        [True, 2 * page],  # import 12.3 -> 12.4 kWh: its line spans pages 2-3
        [True, 4 * page],  # export and time: pages 4..7 in one run
        [True, 5 * page],  # the reactive screen: four lines, pages 1..5; the time stays
    ]
    assert r["same_as_full"] is True  # the glass equals one full redraw of the final state
    assert r["lines"] == ["OpenESME", "kvarh +", "0.6", "kvarh -", "0.0", "08:14 BST 08/05"]


# ---- framebuf shim == MicroPython's framebuf ------------------------------------------------
# SHA-256 of the hex dump of one fixed screen (text incl. non-ASCII and clipping, rects,
# lines, scroll, blit with key) as MicroPython 1.29's built-in framebuf draws it.
SCREEN_SHA256 = "e8d863156f196ec7376ca0af427c837a79bf7284e0acc6f3ee5124d47d8ea043"


def test_framebuf_screen_matches_micropython(interp):
    r = run_scenario(interp, "sc_ui_hw", "framebuf_screen")
    assert hashlib.sha256(r["hex"].encode()).hexdigest() == SCREEN_SHA256
    assert r["p"] == [0, 1, None, None]


_TEXT_CHARS = "AZaz09 !~*#.\x7f\n\xa3\u20ac"


def _random_ops(rng, w, h, depth=0):
    ops = []
    for _ in range(rng.randint(1, 8)):
        kind = rng.choice(
            ["fill", "pixel", "hline", "vline", "line", "rect", "rectf", "fill_rect", "text"]
            + ["scroll", "blit"] * (depth == 0)
        )

        def cx():
            return rng.randint(-10, w + 10)

        def cy():
            return rng.randint(-10, h + 10)

        def col():
            return rng.choice([0, 1, 1, 2])

        if kind == "fill":
            ops.append(["fill", col()])
        elif kind == "pixel":
            ops.append(["pixel", cx(), cy(), col()])
        elif kind == "hline":
            ops.append(["hline", cx(), cy(), rng.randint(-3, w + 5), col()])
        elif kind == "vline":
            ops.append(["vline", cx(), cy(), rng.randint(-3, h + 5), col()])
        elif kind == "line":
            ops.append(["line", cx(), cy(), cx(), cy(), col()])
        elif kind in ("rect", "rectf", "fill_rect"):
            args = [cx(), cy(), rng.randint(-3, w + 5), rng.randint(-3, h + 5), col()]
            if kind == "rectf":
                ops.append(["rect", *args, rng.choice([True, False])])
            else:
                ops.append([kind, *args])
        elif kind == "text":
            s = "".join(rng.choice(_TEXT_CHARS) for _ in range(rng.randint(0, 5)))
            ops.append(["text", s, cx(), cy(), col()])
        elif kind == "scroll":
            ops.append(["scroll", rng.randint(-w - 2, w + 2), rng.randint(-h - 2, h + 2)])
        else:
            src = _random_case(rng, depth + 1)
            x, y, key = cx(), cy(), rng.choice([-1, 0, 1])
            if rng.random() < 0.3:
                pal = {"fmt": 0, "w": 2, "h": 1, "ops": [["pixel", 0, 0, 1], ["pixel", 1, 0, 0]]}
                ops.append(["blit_pal", src, x, y, key, pal])
            else:
                ops.append(["blit", src, x, y, key])
    return ops


def _random_case(rng, depth=0):
    fmt = rng.choice([0, 3, 4])  # MONO_VLSB, MONO_HLSB, MONO_HMSB
    w = rng.randint(1, 40 if depth == 0 else 12)
    h = rng.randint(1, 30 if depth == 0 else 12)
    probes = [[rng.randint(-2, w + 1), rng.randint(-2, h + 1)] for _ in range(4)]
    return {"fmt": fmt, "w": w, "h": h, "ops": _random_ops(rng, w, h, depth), "probes": probes}


def test_framebuf_shim_equals_micropython_on_random_drawings():
    """200 random drawings in three mono formats, drawn by both; every byte must agree."""
    rng = random.Random(20240705)
    cases = [_random_case(rng) for _ in range(200)]
    ours = run_scenario("cpython", "sc_ui_hw", "framebuf_cases", cases)
    theirs = run_scenario("micropython", "sc_ui_hw", "framebuf_cases", cases)
    assert len(ours) == len(theirs) == 200
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert a == b, "case %d differs: %s" % (i, json.dumps(cases[i]))
    # The drawings are not trivially blank.
    assert sum(1 for a in ours if set(a[0]) - {"0"}) > 100


# ---- CPython only --------------------------------------------------------------------------
def test_shim_constructor_checks_like_micropython():
    import framebuf

    with pytest.raises(ValueError):
        framebuf.FrameBuffer(bytearray(10), 16, 8, framebuf.MONO_VLSB)
    with pytest.raises(ValueError):
        framebuf.FrameBuffer(bytearray(100), 0, 8, framebuf.MONO_VLSB)
    with pytest.raises(ValueError):
        framebuf.FrameBuffer(bytearray(100), 8, 8, framebuf.RGB565)  # not in the shim
    fb = framebuf.FrameBuffer(bytearray(16), 16, 8, framebuf.MONO_VLSB)
    assert fb.pixel(16, 0) is None


def test_pbm_to_png_round_trip(tmp_path):
    from PIL import Image

    from hal.sim import render

    pixels = [[(x * y + x) % 3 == 0 for x in range(13)] for y in range(7)]
    pixels = [[1 if v else 0 for v in row] for row in pixels]
    pbm = tmp_path / "s.pbm"
    png = tmp_path / "s.png"
    render.write_pbm(pixels, str(pbm))
    render.pbm_to_png(str(pbm), str(png), scale=3)
    with Image.open(png) as img:
        assert img.size == (39, 21)
        img = img.convert("L")
        for y in range(7):
            for x in range(13):
                for dy in range(3):
                    for dx in range(3):
                        dark = img.getpixel((3 * x + dx, 3 * y + dy)) == 0
                        assert dark == bool(pixels[y][x])


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 20).flatmap(
        lambda w: st.lists(st.lists(st.integers(0, 1), min_size=w, max_size=w), min_size=1)
    )
)
def test_pbm_and_terminal_encode_every_dot(pixels):
    from hal.sim import render

    w, h = len(pixels[0]), len(pixels)
    pbm = render.to_pbm(pixels)
    header = b"P4\n%d %d\n" % (w, h)
    assert pbm.startswith(header)
    body = pbm[len(header) :]
    stride = (w + 7) // 8
    assert len(body) == stride * h
    for y in range(h):
        for x in range(w):
            assert (body[y * stride + x // 8] >> (7 - x % 8)) & 1 == pixels[y][x]
    lines = render.to_terminal(pixels).split("\n")
    assert len(lines) == 2 + (h + 1) // 2
    cells = {" ": (0, 0), "\u2580": (1, 0), "\u2584": (0, 1), "\u2588": (1, 1)}
    for ty, line in enumerate(lines[1:-1]):
        assert line[0] == line[-1] == "\u2502"
        for x, ch in enumerate(line[1:-1]):
            top, bottom = cells[ch]
            assert top == pixels[2 * ty][x]
            assert bottom == (pixels[2 * ty + 1][x] if 2 * ty + 1 < h else 0)
