"""Byte-level model of a Sitronix ST7567 LCD controller with a 128x64 glass, on 4-wire SPI.

What it implements (ST7567 datasheet sections named in brackets):
- [Display Data RAM] 65 rows (8 pages + the 1-row icon page 8) x 132 columns. Power-on RAM
  content is undefined: the model starts with a deterministic junk pattern so a driver that
  switches the display on without clearing the RAM shows garbage, as the real part does.
- [Serial interface] A0 (the DC pin) low = command, high = display data, read on every byte.
  Write-only: the part never drives MISO (the model returns 0xFF).
- [Column address] auto-increment after each data byte, stopping at 131 (0x83); the page
  address never advances by itself.
- [Instruction table] display on/off, start line, page/column address, SEG direction (ADC),
  COM direction, inverse, all-pixels-on, bias, regulation ratio, electronic volume (2 bytes),
  power control, booster ratio (2 bytes, 0xF8), read-modify-write (0xE0/0xEE), NOP, software
  reset (0xE2: start line, page, column, COM direction, ratio and volume back to defaults).
- [Reset] RSTB low resets every register (display off, power circuits off) but not the RAM.

`pixels()` is what a person looking at the glass sees: nothing while the display is off, in
power save, or before booster, regulator and follower are all on; otherwise the RAM through
the SEG/COM mapping and start line, inverted by 0xA7, all dark with 0xA5. The glass is wired
SEG x -> column x and COM y -> row y unless the module is built mirrored (`glass_flip_x/_y`).

`init_ok()` says whether the power-up flow was followed since the last reset: reset, bias,
SEG and COM direction, regulation ratio, volume, power control fully on, then display on.

No heap allocation per byte (the driver's show() is checked under heap_lock through it).
"""

from micropython import const

COLS = const(132)
ROWS = const(65)  # 8 pages of 8 + the icon row
PAGES = const(9)
GLASS_W = const(128)
GLASS_H = const(64)

# init_ok() progress bits, all set by the flow, cleared by a reset.
_F_RESET = const(0x01)
_F_BIAS = const(0x02)
_F_SEG = const(0x04)
_F_COM = const(0x08)
_F_RATIO = const(0x10)
_F_VOLUME = const(0x20)
_F_POWER = const(0x40)
_F_ALL = const(0x7F)

_PARAM_NONE = const(0)
_PARAM_VOLUME = const(1)
_PARAM_BOOSTER = const(2)

_DEFAULT_RATIO = const(5)  # [R] reset value of the regulation ratio; only stored
_DEFAULT_VOLUME = const(32)


class ST7567Model:
    """ST7567 behind a sim SPI bus: `spi.attach(cs_pin, ST7567Model(dc_pin, rst_pin))`."""

    spi_modes = ((0, 0), (1, 1))
    # [R] serial clock cycle 50 ns at VDD 3.3 V: 20 MHz. Check the datasheet AC table.
    spi_max_hz = 20_000_000

    def __init__(self, dc_pin, rst_pin=None, glass_flip_x=False, glass_flip_y=False):
        self._dc = dc_pin
        self.glass_flip_x = glass_flip_x
        self.glass_flip_y = glass_flip_y
        self.ddram = bytearray(PAGES * COLS)
        seed = 0x5A
        for i in range(len(self.ddram)):
            seed = (seed * 73 + 41) & 0xFF  # junk, deterministic
            self.ddram[i] = seed
        self.bytes_in = 0
        self.commands_in = 0
        self.unknown_commands = 0
        self.resets = 0
        self._in_reset = False
        self._hw_reset()
        # Power-on is not a reset: registers are undefined until RSTB or 0xE2.
        self._flags = 0
        self.resets = 0
        if rst_pin is not None:
            rst_pin.watch(self._on_rst)
            if rst_pin.value() == 0:
                self._on_rst(0)

    # ---- reset ---------------------------------------------------------------------------
    def _soft_reset_registers(self):
        self.start_line = 0
        self.page = 0
        self.column = 0
        self.com_reverse = False
        self.regulation = _DEFAULT_RATIO
        self.volume = _DEFAULT_VOLUME
        self.rmw = False
        self._rmw_column = 0
        self._param = _PARAM_NONE
        self._flags = _F_RESET
        self._init_done = False

    def _hw_reset(self):
        self._soft_reset_registers()
        self.display_on = False
        self.inverse = False
        self.all_on = False
        self.seg_reverse = False
        self.bias_1_7 = False
        self.power = 0  # VB<<2 | VR<<1 | VF
        self.booster_x5 = False
        self.resets += 1

    def _on_rst(self, level):
        if level == 0:
            self._in_reset = True
            self._hw_reset()
        else:
            self._in_reset = False

    # ---- SPI device protocol ---------------------------------------------------------------
    def spi_begin(self):
        pass

    def spi_end(self):
        pass

    def spi_byte(self, b):
        if self._in_reset:
            return 0xFF
        self.bytes_in += 1
        if self._dc.value():
            self._param = _PARAM_NONE
            self._data(b)
        else:
            self.commands_in += 1
            self._command(b)
        return 0xFF

    def spi_write_bytes(self, buf):
        """Bulk path used by the fake SPI for write-only frames: the same effect as feeding
        each byte to spi_byte(), but a run of display data that fits the rest of the page is
        one slice copy (a 1 KB redraw per tick would otherwise dominate a simulated day).
        Slice assignment allocates nothing on MicroPython."""
        n = len(buf)
        if self._in_reset or not self._dc.value() or self.page >= PAGES - 1:
            for b in buf:
                self.spi_byte(b)
            return
        col = self.column
        if n > COLS - col:
            for b in buf:
                self.spi_byte(b)
            return
        self.bytes_in += n
        self._param = _PARAM_NONE
        base = self.page * COLS + col
        self.ddram[base : base + n] = buf
        self.column = min(col + n, COLS - 1)

    def _data(self, b):
        page = self.page
        if page >= PAGES:
            return
        col = self.column
        if page == PAGES - 1:
            b &= 0x01  # the icon page holds one row: only D0 exists
        self.ddram[page * COLS + col] = b
        if col < COLS - 1:
            self.column = col + 1

    def _command(self, c):
        param = self._param
        if param != _PARAM_NONE:
            self._param = _PARAM_NONE
            if param == _PARAM_VOLUME:
                self.volume = c & 0x3F
                self._flags |= _F_VOLUME
            else:
                self.booster_x5 = bool(c & 0x01)
            return
        if c & 0xFE == 0xAE:
            self.display_on = c == 0xAF
            if self.display_on and self._flags == _F_ALL:
                self._init_done = True
        elif 0x40 <= c <= 0x7F:
            self.start_line = c & 0x3F
        elif 0xB0 <= c <= 0xBF:
            self.page = c & 0x0F
        elif 0x10 <= c <= 0x1F:
            self.column = min(((c & 0x0F) << 4) | (self.column & 0x0F), COLS - 1)
        elif c <= 0x0F:
            self.column = min((self.column & 0xF0) | c, COLS - 1)
        elif c & 0xFE == 0xA0:
            self.seg_reverse = c == 0xA1
            self._flags |= _F_SEG
        elif c & 0xFE == 0xA2:
            self.bias_1_7 = c == 0xA3
            self._flags |= _F_BIAS
        elif c & 0xFE == 0xA4:
            self.all_on = c == 0xA5
        elif c & 0xFE == 0xA6:
            self.inverse = c == 0xA7
        elif 0xC0 <= c <= 0xCF:
            self.com_reverse = bool(c & 0x08)
            self._flags |= _F_COM
        elif 0x28 <= c <= 0x2F:
            self.power = c & 0x07
            if self.power == 0x07:
                self._flags |= _F_POWER
        elif 0x20 <= c <= 0x27:
            self.regulation = c & 0x07
            self._flags |= _F_RATIO
        elif c == 0x81:
            self._param = _PARAM_VOLUME
        elif c == 0xF8:
            self._param = _PARAM_BOOSTER
        elif c == 0xE2:
            self._soft_reset_registers()
            self.resets += 1
        elif c == 0xE0:
            self.rmw = True
            self._rmw_column = self.column
        elif c == 0xEE:
            if self.rmw:
                self.column = self._rmw_column
            self.rmw = False
        elif c == 0xE3:
            pass  # NOP
        else:
            self.unknown_commands += 1

    # ---- what the tests and the renderer look at ------------------------------------------
    def init_ok(self):
        """True once a complete power-up flow has been received since the last reset."""
        return self._init_done

    def visible(self):
        """Whether the glass shows anything at all (display on, power circuits up, no sleep)."""
        return self.display_on and self.power == 0x07

    def ram_pixel(self, column, line):
        """DDRAM bit at (column 0..131, line 0..64)."""
        return (self.ddram[(line >> 3) * COLS + column] >> (line & 7)) & 1

    def pixels(self):
        """The visible 128x64 image as 64 rows of 128 ints (1 = dark dot)."""
        out = []
        if not self.visible():
            for _ in range(GLASS_H):
                out.append([0] * GLASS_W)
            return out
        if self.all_on:
            for _ in range(GLASS_H):
                out.append([1] * GLASS_W)
            return out
        inv = 1 if self.inverse else 0
        cols = []
        for x in range(GLASS_W):
            seg = GLASS_W - 1 - x if self.glass_flip_x else x
            cols.append(COLS - 1 - seg if self.seg_reverse else seg)
        for y in range(GLASS_H):
            com = GLASS_H - 1 - y if self.glass_flip_y else y
            scan = GLASS_H - 1 - com if self.com_reverse else com
            line = (scan + self.start_line) % GLASS_H
            base = (line >> 3) * COLS
            bit = line & 7
            ddram = self.ddram
            row = []
            for x in range(GLASS_W):
                row.append(((ddram[base + cols[x]] >> bit) & 1) ^ inv)
            out.append(row)
        return out
