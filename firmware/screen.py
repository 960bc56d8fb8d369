"""The LCD screens: what the meter shows on its 128x64 display (8 lines of 16 characters).

Rendering goes through the framebuf API only, so the same screens appear on the ST7567, on the
virtual board's LCD model, in the terminal and in the PNG the sim leaves behind. Figures are
formatted from integers (no floats: DESIGN rule 1). Local time (GMT/BST) appears here and
nowhere else (DESIGN rule 8); an invalid clock shows dashes, never a made-up time. The screen
is redrawn only when what it shows has changed, so a 1 s tick does not cost an LCD refresh.
"""

from firmware import civil

_LINE_H = 8
_PAGES = 2


def _kwh_text(wh):
    """'12345.678' from an integer Wh count, without floats."""
    return "%d.%03d" % (wh // 1000, wh % 1000)


class Screen:
    def __init__(self, lcd):
        self.lcd = lcd
        self.page = 0
        self._shown = None

    def on_key(self, key):
        if key == "#":
            self.page = (self.page + 1) % _PAGES
        elif key == "*":
            self.page = (self.page - 1) % _PAGES

    def draw(self, meter):
        regs = meter.registers_wh()
        utc = meter.clock.timestamp_or_none()
        minute = None if utc is None else utc // 60
        if self.page == 0:
            values = (regs["active_import"], regs["active_export"])
            labels = ("Imp kWh", "Exp kWh")
        else:
            values = (regs["reactive_import"], regs["reactive_export"])
            labels = ("kvarh +", "kvarh -")
        key = (self.page, values, minute)
        if key == self._shown:
            return False
        self._shown = key
        lcd = self.lcd
        lcd.fill(0)
        lcd.text("OpenESME", 0, 0, 1)
        lcd.hline(0, 9, 128, 1)
        y = 12
        for i in range(2):
            lcd.text(labels[i], 0, y, 1)
            lcd.text(_kwh_text(values[i]), 0, y + _LINE_H, 1)
            y += 2 * _LINE_H
        if utc is None:
            lcd.text("--:-- --------", 0, 56, 1)
        else:
            f = civil.local_fields(utc)
            zone = "BST" if civil.is_bst(utc) else "GMT"
            lcd.text("%02d:%02d %s %02d/%02d" % (f[3], f[4], zone, f[2], f[1]), 0, 56, 1)
        lcd.show()
        return True
