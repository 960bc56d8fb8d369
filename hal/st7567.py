"""ST7567 128x64 monochrome LCD on 4-wire SPI, as a `framebuf.FrameBuffer`.

Sitronix ST7567 datasheet (65 x 132 dot-matrix LCD controller/driver):
- "Display Data RAM": 9 pages of 8 rows x 132 columns; bit 0 of a byte is the top row of the
  page, which is exactly framebuf's MONO_VLSB layout, so the buffer goes out unchanged.
- "Serial interface": the A0 (DC) pin selects command (low) or display data (high); the
  part is write-only on SPI, data is sampled on the rising SCLK edge (mode 0 or 3).
- "Instruction table": display on/off 0xAE/0xAF, start line 0x40|n, page 0xB0|p, column
  0x10|hi + 0x00|lo, SEG direction (ADC) 0xA0/0xA1, inverse 0xA6/0xA7, all-pixels-on
  0xA4/0xA5, bias 0xA2 (1/9) / 0xA3 (1/7), software reset 0xE2, COM direction 0xC0/0xC8,
  power control 0x28|VB<<2|VR<<1|VF, regulation ratio 0x20|RR, electronic volume (contrast)
  0x81 followed by a 6-bit value, power save = display off then all-pixels-on.
- "Column address": with ADC reverse, column address 131-n drives SEG n. A 128-column glass
  on SEG0..127 therefore starts at column 4 when the direction is reversed (flip_x).
- "Initialization with the built-in power supply": reset, bias, SEG/COM direction,
  regulation ratio and volume, then booster -> regulator -> follower, clear RAM, display on.

Usage (board/*.py owns the pins and the bus; this driver never creates them):

    spi = machine.SPI(1, baudrate=8_000_000, polarity=0, phase=0, sck=.., mosi=..)
    lcd = ST7567(spi, Pin(15, Pin.OUT, value=1), Pin(2, Pin.OUT), rst=Pin(4, Pin.OUT),
                 contrast=31, sleep_ms=time.sleep_ms)
    lcd.text("kWh 123.4", 0, 0)
    lcd.show()     # 8 pages x (3 command + 128 data bytes), no heap allocation

flip_x / flip_y select the SEG (ADC) and COM scan directions: set them to match how the glass
is wired on the module (many 12864 modules want flip_y=True); both together rotate 180 deg.
"""

import framebuf
from micropython import const

WIDTH = const(128)
HEIGHT = const(64)
_PAGES = const(8)

_DISPLAY_OFF = const(0xAE)
_DISPLAY_ON = const(0xAF)
_START_LINE = const(0x40)
_PAGE_ADDR = const(0xB0)
_COL_HIGH = const(0x10)
_COL_LOW = const(0x00)
_SEG_NORMAL = const(0xA0)
_SEG_REVERSE = const(0xA1)
_INVERSE_OFF = const(0xA6)
_INVERSE_ON = const(0xA7)
_ALL_ON_OFF = const(0xA4)
_ALL_ON = const(0xA5)
_BIAS_1_9 = const(0xA2)
_BIAS_1_7 = const(0xA3)
_SOFT_RESET = const(0xE2)
_COM_NORMAL = const(0xC0)
_COM_REVERSE = const(0xC8)
_POWER_CTRL = const(0x28)
_PWR_BOOSTER = const(0x04)
_PWR_REGULATOR = const(0x02)
_PWR_FOLLOWER = const(0x01)
_REG_RATIO = const(0x20)
_SET_VOLUME = const(0x81)

# With ADC reverse the 128 visible SEGs sit at column addresses 4..131 (132 - 128).
_REVERSED_COL_OFFSET = const(4)
# Power circuits settle before the next stage is enabled; the datasheet flow waits between
# booster, regulator and follower. 10 ms each is generous for the usual 1 uF caps.
_POWER_STEP_MS = const(10)


class ST7567(framebuf.FrameBuffer):
    """128x64 ST7567 LCD: draw with the FrameBuffer methods, then `show()`."""

    def __init__(
        self,
        spi,
        cs,
        dc,
        rst=None,
        contrast=31,
        sleep_ms=None,
        flip_x=False,
        flip_y=False,
        bias_1_7=False,
        regulation=5,
    ):
        if not 0 <= contrast <= 63:
            raise ValueError("contrast 0..63")
        if not 0 <= regulation <= 7:
            raise ValueError("regulation ratio 0..7")
        if sleep_ms is None:
            from lib.ticks import sleep_ms
        self.width = WIDTH
        self.height = HEIGHT
        self.buffer = bytearray(WIDTH * HEIGHT // 8)
        super().__init__(self.buffer, WIDTH, HEIGHT, framebuf.MONO_VLSB)
        self._spi = spi
        self._cs = cs
        self._dc = dc
        self._rst = rst
        self._sleep_ms = sleep_ms
        self._flip_x = bool(flip_x)
        self._flip_y = bool(flip_y)
        self._bias = _BIAS_1_7 if bias_1_7 else _BIAS_1_9
        self._regulation = regulation
        self._contrast = contrast
        self._cmd1 = bytearray(1)
        self._cmd2 = bytearray(2)
        # Per-page address commands and data views, built once so show() allocates nothing.
        col = _REVERSED_COL_OFFSET if self._flip_x else 0
        mv = memoryview(self.buffer)
        addr = []
        pages = []
        for p in range(_PAGES):
            addr.append(bytes((_PAGE_ADDR | p, _COL_HIGH | (col >> 4), _COL_LOW | (col & 0x0F))))
            pages.append(mv[p * WIDTH : (p + 1) * WIDTH])
        self._page_addr = tuple(addr)
        self._page_data = tuple(pages)
        cs.value(1)
        self.init_display()

    # ---- bus primitives ----------------------------------------------------------------
    def _command(self, buf):
        self._dc.value(0)
        self._cs.value(0)
        try:
            self._spi.write(buf)
        finally:
            self._cs.value(1)

    def _cmd(self, c):
        self._cmd1[0] = c
        self._command(self._cmd1)

    def _cmd_pair(self, c, v):
        self._cmd2[0] = c
        self._cmd2[1] = v
        self._command(self._cmd2)

    # ---- public API --------------------------------------------------------------------
    def init_display(self):
        """Reset and power up the controller, clear the RAM, switch the display on."""
        sleep = self._sleep_ms
        if self._rst is not None:
            # Hardware reset: RSTB low for >= 5 us, then the reset takes up to 5 us to finish.
            self._rst.value(1)
            sleep(1)
            self._rst.value(0)
            sleep(1)
            self._rst.value(1)
            sleep(1)
        else:
            self._cmd(_SOFT_RESET)
            sleep(1)
        self._cmd(self._bias)
        self._cmd(_SEG_REVERSE if self._flip_x else _SEG_NORMAL)
        self._cmd(_COM_REVERSE if self._flip_y else _COM_NORMAL)
        self._cmd(_START_LINE)
        self._cmd(_REG_RATIO | self._regulation)
        self._cmd_pair(_SET_VOLUME, self._contrast)
        self._cmd(_POWER_CTRL | _PWR_BOOSTER)
        sleep(_POWER_STEP_MS)
        self._cmd(_POWER_CTRL | _PWR_BOOSTER | _PWR_REGULATOR)
        sleep(_POWER_STEP_MS)
        self._cmd(_POWER_CTRL | _PWR_BOOSTER | _PWR_REGULATOR | _PWR_FOLLOWER)
        sleep(_POWER_STEP_MS)
        self._cmd(_INVERSE_OFF)
        self._cmd(_ALL_ON_OFF)
        # RAM content is undefined after power-up: clear it before the glass shows it.
        self.fill(0)
        self.show()
        self._cmd(_DISPLAY_ON)

    def show(self, first=0, last=_PAGES - 1):
        """Send pages first..last of the framebuffer (default: all). Allocates nothing.

        A page is 8 pixel rows; each is addressed on its own (page address and column 0), so
        any run of pages can be refreshed alone (datasheet: page addressing, 8.3)."""
        if not 0 <= first <= last < _PAGES:
            raise ValueError("pages 0..7, first <= last")
        spi = self._spi
        dc = self._dc
        addr = self._page_addr
        data = self._page_data
        self._cs.value(0)
        try:
            for p in range(first, last + 1):
                dc.value(0)
                spi.write(addr[p])
                dc.value(1)
                spi.write(data[p])
        finally:
            self._cs.value(1)

    def contrast(self, value):
        """Electronic volume 0..63 (higher = darker)."""
        if not 0 <= value <= 63:
            raise ValueError("contrast 0..63")
        self._contrast = value
        self._cmd_pair(_SET_VOLUME, value)

    def invert(self, on):
        self._cmd(_INVERSE_ON if on else _INVERSE_OFF)

    def poweroff(self):
        """Power save: display off then all-pixels-on stops the drivers; RAM is kept."""
        self._cmd(_DISPLAY_OFF)
        self._cmd(_ALL_ON)

    def poweron(self):
        """Leave power save: all-pixels-on released, display on."""
        self._cmd(_ALL_ON_OFF)
        self._cmd(_DISPLAY_ON)
