"""Show an LCD image on the host: terminal text (Unicode half blocks) and PBM/PNG files.

`pixels` everywhere is what `ST7567Model.pixels()` returns: a list of rows, each a sequence
of 0/1 ints, 1 = dark dot.

- `to_terminal(pixels)` packs two pixel rows into one text row with the half-block
  characters U+2580 (upper), U+2584 (lower) and U+2588 (full), inside a box-drawing frame, so a
  128x64 screen is 130 columns x 34 lines of text. An odd last row is padded with blank dots.
- `to_pbm(pixels)` returns a binary PBM (Netpbm "P4": header `P4\\n<w> <h>\\n`, then each row
  packed 8 pixels per byte, most significant bit first, padded to a whole byte, 1 = black).
- `pbm_to_png(pbm_path, png_path, scale=4)` (CPython only, needs Pillow) turns such a file
  into a PNG, each dot scaled to a scale x scale square.

to_terminal and to_pbm are plain Python that runs under MicroPython too: the virtual board
writes the PBM from inside the sim and a host tool converts it.
"""

_BLANK = " "
_UPPER = "\u2580"
_LOWER = "\u2584"
_FULL = "\u2588"
_CELLS = (_BLANK, _UPPER, _LOWER, _FULL)  # index = top + 2 * bottom


def _size(pixels):
    height = len(pixels)
    width = len(pixels[0]) if height else 0
    for row in pixels:
        if len(row) != width:
            raise ValueError("rows differ in length")
    return width, height


def to_terminal(pixels):
    """Frame + half-block text for `pixels`; lines joined with '\\n', no trailing newline."""
    width, height = _size(pixels)
    lines = ["\u250c" + "\u2500" * width + "\u2510"]
    for y in range(0, height, 2):
        top = pixels[y]
        bottom = pixels[y + 1] if y + 1 < height else None
        cells = []
        for x in range(width):
            t = 1 if top[x] else 0
            b = 1 if bottom is not None and bottom[x] else 0
            cells.append(_CELLS[t + 2 * b])
        lines.append("\u2502" + "".join(cells) + "\u2502")
    lines.append("\u2514" + "\u2500" * width + "\u2518")
    return "\n".join(lines)


def to_pbm(pixels):
    """Binary PBM (P4) bytes for `pixels`."""
    width, height = _size(pixels)
    row_bytes = (width + 7) // 8
    header = b"P4\n%d %d\n" % (width, height)
    out = bytearray(len(header) + row_bytes * height)
    out[0 : len(header)] = header
    pos = len(header)
    for row in pixels:
        for x in range(width):
            if row[x]:
                out[pos + (x >> 3)] |= 0x80 >> (x & 7)
        pos += row_bytes
    return bytes(out)


def write_pbm(pixels, path):
    """Write `to_pbm(pixels)` to `path` (works under MicroPython)."""
    with open(path, "wb") as f:
        f.write(to_pbm(pixels))


def pbm_to_png(pbm_path, png_path, scale=4):
    """Convert a PBM written by `to_pbm` into a PNG, `scale` screen dots per image pixel.

    CPython only: imports Pillow lazily so this module still loads under MicroPython.
    Dark dots come out black on a white background, as on the glass.
    """
    if scale < 1:
        raise ValueError("scale >= 1")
    from PIL import Image

    with Image.open(pbm_path) as img:
        img = img.convert("1")
        if scale != 1:
            img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
        img.save(png_path, format="PNG")
