"""The LCD screens: what the meter shows on its 128x64 display (8 lines of 16 characters).

Rendering goes through the framebuf API only, so the same screens appear on the ST7567, on the
virtual board's LCD model, in the terminal and in the PNG the sim leaves behind. Figures are
formatted from integers (no floats: DESIGN rule 1).
"""

_LINE_H = 8


def _kwh_text(wh):
    """'12345.678' from an integer Wh count, without floats."""
    return "%d.%03d" % (wh // 1000, wh % 1000)


class Screen:
    def __init__(self, lcd):
        self.lcd = lcd
        self.page = 0

    def on_key(self, key):
        if key == "#":
            self.page = (self.page + 1) % 2
        elif key == "*":
            self.page = (self.page - 1) % 2

    def draw(self, meter):
        lcd = self.lcd
        lcd.fill(0)
        lcd.text("OpenESME", 0, 0, 1)
        lcd.hline(0, 9, 128, 1)
        regs = meter.registers_wh()
        if self.page == 0:
            lcd.text("Imp kWh", 0, 12, 1)
            lcd.text(_kwh_text(regs["active_import"]), 0, 12 + _LINE_H, 1)
            lcd.text("Exp kWh", 0, 12 + 2 * _LINE_H, 1)
            lcd.text(_kwh_text(regs["active_export"]), 0, 12 + 3 * _LINE_H, 1)
        else:
            lcd.text("kvarh +", 0, 12, 1)
            lcd.text(_kwh_text(regs["reactive_import"]), 0, 12 + _LINE_H, 1)
            lcd.text("kvarh -", 0, 12 + 2 * _LINE_H, 1)
            lcd.text(_kwh_text(regs["reactive_export"]), 0, 12 + 3 * _LINE_H, 1)
        lcd.text("tick %d" % meter.ticks, 0, 56, 1)
        lcd.show()
