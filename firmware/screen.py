"""The LCD screens: what the meter shows on its 128x64 display (8 lines of 16 characters).

Rendering goes through the framebuf API only, so the same screens appear on the ST7567, on the
virtual board's LCD model, in the terminal and in the PNG the sim leaves behind. Figures are
formatted from integers (no floats: DESIGN rule 1). Local time (GMT/BST) appears here and
nowhere else (DESIGN rule 8); an invalid clock shows dashes, never a made-up time.

Energy is shown in kWh to 0.1 kWh, as meter displays usually are, and the screen is redrawn
only when what it shows has changed: at a 1 s metering window a redraw every tick would cost
an LCD refresh (1 KB over SPI) per second for nothing.
"""

from firmware import civil

_LINE_H = 8
_PAGES = 2  # screens the # and * keys step through
# Top pixel row of each line: the title, a rule at row 9, four figures, the time at the bottom.
_LINE_Y = (0, 12, 20, 28, 36, 56)
_LAST_PAGE = 7  # the LCD's 64 rows are 8 pages of 8


def kwh_text(wh):
    """'12345.6' (kWh, truncated to 0.1) from an integer Wh count, without floats."""
    return "%d.%d" % (wh // 1000, (wh % 1000) // 100)


def time_text(utc):
    """'HH:MM GMT DD/MM' in UK local time, or dashes while the clock is invalid."""
    if utc is None:
        return "--:-- --------"
    f = civil.local_fields(utc)
    zone = "BST" if civil.is_bst(utc) else "GMT"
    return "%02d:%02d %s %02d/%02d" % (f[3], f[4], zone, f[2], f[1])


class Screen:
    def __init__(self, lcd):
        self.lcd = lcd
        self.page = 0
        self.lines = ()  # the text last drawn (for tests and the terminal)

    def on_key(self, key):
        if key == "#":
            self.page = (self.page + 1) % _PAGES
        elif key == "*":
            self.page = (self.page - 1) % _PAGES

    def compose(self, meter):
        """The lines the current page shows."""
        regs = meter.registers_wh()
        if self.page == 0:
            a, b = regs["active_import"], regs["active_export"]
            labels = ("Imp kWh", "Exp kWh")
        else:
            a, b = regs["reactive_import"], regs["reactive_export"]
            labels = ("kvarh +", "kvarh -")
        utc = meter.clock.timestamp_or_none()
        return ("OpenESME", labels[0], kwh_text(a), labels[1], kwh_text(b), time_text(utc))

    def draw(self, meter):
        """Redraw what changed; returns True when the LCD was refreshed.

        Only the lines whose text changed are redrawn, and only the LCD pages (8-pixel bands)
        they cover are sent: a new minute costs the bottom page, 132 bytes, not 1 KB."""
        lines = self.compose(meter)
        old = self.lines
        if lines == old:
            return False
        self.lines = lines
        lcd = self.lcd
        if len(old) != len(lines):
            lcd.fill(0)
            lcd.hline(0, 9, 128, 1)
            for i in range(len(lines)):
                lcd.text(lines[i], 0, _LINE_Y[i], 1)
            lcd.show()
            return True
        first = _LAST_PAGE
        last = 0
        for i in range(len(lines)):
            if lines[i] != old[i]:
                y = _LINE_Y[i]
                lcd.fill_rect(0, y, 128, _LINE_H, 0)
                lcd.text(lines[i], 0, y, 1)
                first = min(first, y // 8)
                last = max(last, (y + _LINE_H - 1) // 8)
        lcd.show(first, last)
        return True
