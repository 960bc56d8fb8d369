"""Scenarios for the LCD, keypad, relay, power-fail and cover hardware (CPython and MicroPython).

Each function wires a driver from hal/ to its model in hal/sim/ through the fake machine
buses, exercises it and returns plain data for the tests to compare with exact values.
"""

import framebuf
import micropython

from hal.keypad import Keypad
from hal.relay import LatchingRelay
from hal.sim import render
from hal.sim.keypad_model import KeypadModel
from hal.sim.lcd_model import ST7567Model
from hal.sim.machine import SPI, Pin
from hal.sim.relay_model import LatchingRelayModel
from hal.sim.simtime import SimTime
from hal.sim.supply_model import CoverSwitch, PowerFailComparator
from hal.st7567 import ST7567


def _sleeper(sim_time, log=None):
    def sleep_ms(ms):
        if log is not None:
            log.append(ms)
        sim_time.advance(ms * 1000)

    return sleep_ms


class _SpyLCD(ST7567Model):
    """The LCD model, also recording every command byte (DC low) it receives."""

    spi_write_bytes = None  # every byte through spi_byte(), so the spy sees them all

    def __init__(self, dc_pin, rst_pin=None, **kw):
        self.log = []
        self.data_bytes = 0
        super().__init__(dc_pin, rst_pin, **kw)

    def spi_byte(self, b):
        if not self._in_reset:
            if self._dc.value():
                self.data_bytes += 1
            else:
                self.log.append(b)
        return super().spi_byte(b)


class _QuietSPI(SPI):
    """The sim SPI with the device choice cached, so a transfer allocates nothing.

    hal/sim/machine.SPI._selected() builds a (polarity, phase) tuple on every transfer, which
    allocates; this scenario only wants to prove the driver and the model allocate nothing.
    """

    _chosen = None

    def select_now(self):
        self._chosen = SPI._selected(self)

    def _selected(self):
        if self._chosen is None:
            return SPI._selected(self)
        return self._chosen


def _lcd_rig(with_rst=True, model_cls=ST7567Model, spi_cls=SPI, **kw):
    t = SimTime()
    sleeps = []
    spi = spi_cls(1, baudrate=8_000_000, polarity=0, phase=0)
    cs = Pin(15, Pin.OUT, value=1)
    dc = Pin(2, Pin.OUT, value=0)
    rst = Pin(4, Pin.OUT) if with_rst else None  # a fresh output sits low: RSTB asserted
    glass = {}
    for k in ("glass_flip_x", "glass_flip_y"):
        if k in kw:
            glass[k] = kw.pop(k)
    model = model_cls(dc, rst, **glass)
    spi.attach(cs, model)
    lcd = ST7567(spi, cs, dc, rst=rst, sleep_ms=_sleeper(t, sleeps), **kw)
    return t, spi, lcd, model, sleeps


def _fb_rows(fb, w, h):
    return [[fb.pixel(x, y) for x in range(w)] for y in range(h)]


def _draw_known(fb):
    fb.fill(0)
    fb.text("OpenESME", 0, 0, 1)
    fb.text("12.5kWh", 60, 20, 1)
    fb.rect(0, 10, 128, 54, 1)
    fb.fill_rect(4, 40, 20, 8, 1)
    fb.line(0, 63, 127, 12, 1)
    fb.hline(30, 50, 40, 1)
    fb.vline(100, 30, 20, 1)
    fb.pixel(127, 0, 1)
    fb.pixel(0, 63, 1)


# ---- LCD ----------------------------------------------------------------------------------
def lcd_init_bytes(with_rst):
    t, spi, lcd, model, sleeps = _lcd_rig(with_rst, model_cls=_SpyLCD, contrast=40)
    return {
        "commands": model.log,
        "data_bytes": model.data_bytes,
        "init_ok": model.init_ok(),
        "sleeps": sleeps,
        "sim_ms": t.now_ms(),
        "resets": model.resets,
        "visible": model.visible(),
        "blank": sum(sum(r) for r in model.pixels()),
        "volume": model.volume,
        "regulation": model.regulation,
    }


def lcd_show_pattern(flip_x, flip_y, glass_flip_x, glass_flip_y):
    t, spi, lcd, model, _ = _lcd_rig(
        True, flip_x=flip_x, flip_y=flip_y, glass_flip_x=glass_flip_x, glass_flip_y=glass_flip_y
    )
    _draw_known(lcd)
    lcd.show()
    want = _fb_rows(lcd, 128, 64)
    got = model.pixels()
    same = mirror_x = mirror_y = rot180 = 0
    for y in range(64):
        for x in range(128):
            v = want[y][x]
            same += got[y][x] == v
            mirror_x += got[y][127 - x] == v
            mirror_y += got[63 - y][x] == v
            rot180 += got[63 - y][127 - x] == v
    return {
        "init_ok": model.init_ok(),
        "lit": sum(sum(r) for r in want),
        "same": same,
        "mirror_x": mirror_x,
        "mirror_y": mirror_y,
        "rot180": rot180,
    }


def lcd_without_init():
    """A display switched on without the power-up flow: model says so and shows nothing."""
    t = SimTime()
    spi = SPI(1, baudrate=1_000_000)
    cs = Pin(15, Pin.OUT, value=1)
    dc = Pin(2, Pin.OUT, value=0)
    model = ST7567Model(dc)
    spi.attach(cs, model)
    cs(0)
    spi.write(b"\xaf")
    cs(1)
    before = (model.init_ok(), model.visible())
    cs(0)
    spi.write(b"\xe2\xa2\xa0\xc8\x25\x81\x20\x2f\xaf")
    cs(1)
    after_soft = (model.init_ok(), model.visible())
    cs(0)
    spi.write(b"\xe2\xaf")  # a later reset clears the progress again
    cs(1)
    t.advance(1)
    return {
        "before": list(before),
        "after": list(after_soft),
        "after_reset": model.init_ok(),
        "junk_on_glass": sum(sum(r) for r in model.pixels()) > 0,
    }


def lcd_controls():
    t, spi, lcd, model, _ = _lcd_rig(True)
    lcd.fill(0)
    lcd.fill_rect(0, 0, 64, 64, 1)  # left half dark
    lcd.show()
    out = {"lit": sum(sum(r) for r in model.pixels())}
    lcd.contrast(50)
    out["volume"] = model.volume
    lcd.invert(True)
    px = model.pixels()
    out["inverted_lit"] = sum(sum(r) for r in px)
    out["inverted_corner"] = [px[0][0], px[0][127]]
    lcd.invert(False)
    lcd.poweroff()
    out["off_lit"] = sum(sum(r) for r in model.pixels())
    out["off_state"] = [model.display_on, model.all_on]
    lcd.poweron()
    out["on_lit"] = sum(sum(r) for r in model.pixels())
    errs = 0
    for bad in (-1, 64):
        try:
            lcd.contrast(bad)
        except ValueError:
            errs += 1
    out["bad_contrast_errors"] = errs
    out["volume_after_bad"] = model.volume
    # Column auto-increment tops out at 131; the page does not advance.
    cs = lcd._cs
    lcd._dc(0)
    cs(0)
    spi.write(b"\xb2\x18\x02")  # page 2, column 0x82 = 130
    lcd._dc(1)
    spi.write(b"\x01\x02\x03\x04")
    cs(1)
    out["col_end"] = [model.ddram[2 * 132 + 130], model.ddram[2 * 132 + 131], model.column]
    out["page_after"] = model.page
    # Icon page 8 keeps only D0.
    lcd._dc(0)
    cs(0)
    spi.write(b"\xb8\x10\x00")
    lcd._dc(1)
    spi.write(b"\xff")
    cs(1)
    out["icon"] = model.ddram[8 * 132]
    out["unknown"] = model.unknown_commands
    # Start line scrolls the RAM through the glass.
    lcd.fill(0)
    lcd.hline(0, 0, 128, 1)
    lcd.show()
    lcd._cmd(0x40 | 8)
    px = model.pixels()
    out["start_line_row"] = [y for y in range(64) if px[y][5]]
    return out


def lcd_render_small():
    pixels = [
        [1, 0, 1, 0, 1],
        [1, 1, 0, 0, 1],
        [0, 1, 1, 0, 0],
    ]
    return {"text": render.to_terminal(pixels), "pbm": list(render.to_pbm(pixels))}


def lcd_render_screen():
    t, spi, lcd, model, _ = _lcd_rig(True)
    lcd.fill(0)
    lcd.text("Hi", 0, 0, 1)
    lcd.show()
    px = model.pixels()
    text = render.to_terminal(px)
    pbm = render.to_pbm(px)
    return {
        "lines": text.split("\n")[:6],
        "n_lines": len(text.split("\n")),
        "pbm_len": len(pbm),
        "pbm_head": list(pbm[:16]),
    }


def lcd_show_allocates_nothing():
    t, spi, lcd, model, _ = _lcd_rig(True, spi_cls=_QuietSPI)
    _draw_known(lcd)
    lcd._cs(0)
    spi.select_now()
    lcd._cs(1)
    micropython.heap_lock()
    try:
        lcd.show()
        lcd.show()
        ok = True
    except MemoryError:
        ok = False
    micropython.heap_unlock()
    return {"ok": ok, "same": model.pixels() == _fb_rows(lcd, 128, 64)}


# ---- framebuf (shim vs built-in) -------------------------------------------------------------
def _apply(fb, ops):
    for op in ops:
        name = op[0]
        a = op[1:]
        if name == "blit":
            src = _build(a[0])
            fb.blit(src, *a[1:])
        elif name == "blit_pal":
            src = _build(a[0])
            pal = _build(a[4])
            fb.blit(src, a[1], a[2], a[3], pal)
        else:
            getattr(fb, name)(*a)


def _build(case):
    fmt = case["fmt"]
    w = case["w"]
    h = case["h"]
    if fmt == framebuf.MONO_VLSB:
        size = ((h + 7) // 8) * w
    else:
        size = ((w + 7) // 8) * h
    buf = bytearray(size)
    fb = framebuf.FrameBuffer(buf, w, h, fmt)
    _apply(fb, case["ops"])
    return fb


def framebuf_cases(cases):
    """Run each {fmt, w, h, ops} drawing; return the buffers in hex plus sampled pixel()s."""
    out = []
    for case in cases:
        fmt = case["fmt"]
        w = case["w"]
        h = case["h"]
        size = ((h + 7) // 8) * w if fmt == framebuf.MONO_VLSB else ((w + 7) // 8) * h
        buf = bytearray(size)
        fb = framebuf.FrameBuffer(buf, w, h, fmt)
        _apply(fb, case["ops"])
        probes = [fb.pixel(x, y) for (x, y) in case.get("probes", [])]
        out.append([_hex(buf), probes])
    return out


def _hex(buf):
    return "".join("%02x" % b for b in buf)


def framebuf_screen():
    """One typical meter screen, as bytes, for the shim == built-in comparison."""
    buf = bytearray(1024)
    fb = framebuf.FrameBuffer(buf, 128, 64, framebuf.MONO_VLSB)
    _draw_known(fb)
    fb.text("Credit \xa312.34", 2, 30, 1)  # non-ASCII: the UTF-8 bytes show as glyph 127
    fb.text("!~", 120, 56, 1)  # clipped at the right and bottom edges
    fb.rect(90, 2, 30, 6, 1, True)
    fb.rect(92, 3, 26, 4, 0)
    fb.scroll(-3, 2)
    icon = bytearray(8)
    ifb = framebuf.FrameBuffer(icon, 8, 8, framebuf.MONO_VLSB)
    ifb.text("*", 0, 0, 1)
    fb.blit(ifb, 118, -2, 0)
    return {
        "hex": _hex(buf),
        "p": [fb.pixel(0, 0), fb.pixel(127, 63), fb.pixel(128, 0), fb.pixel(-1, 5)],
    }


# ---- keypad -------------------------------------------------------------------------------
def _keypad_rig():
    rows = [Pin(10 + i, Pin.OUT, value=1) for i in range(4)]
    cols = [Pin(20 + i, Pin.IN, Pin.PULL_UP) for i in range(3)]
    btn_a = Pin(30, Pin.IN, Pin.PULL_UP)
    btn_b = Pin(31, Pin.IN, Pin.PULL_UP)
    model = KeypadModel(rows, cols, (btn_a, btn_b))
    kp = Keypad(rows, cols, buttons=(("A", btn_a), ("B", btn_b)))
    return kp, model, rows, cols


def keypad_every_key():
    kp, model, rows, cols = _keypad_rig()
    out = []
    for key in "123456789*0#AB":
        model.press(key)
        s = [kp.scan(), kp.scan(), kp.scan()]
        held = kp.pressed()
        down = kp.is_down(key)
        model.release(key)
        s2 = [kp.scan(), kp.scan()]
        out.append([key, s, held, down, s2, kp.pressed()])
    return {
        "keys": out,
        "rows_idle": [r.value() for r in rows],
        "cols_idle": [c.value() for c in cols],
    }


def keypad_debounce():
    kp, model, rows, cols = _keypad_rig()
    seq = []
    # Bouncing contact: never two equal scans in a row -> nothing.
    for _ in range(3):
        model.press("5")
        seq.append(kp.scan())
        model.release("5")
        seq.append(kp.scan())
    # Then it settles.
    model.press("5")
    seq.append(kp.scan())
    seq.append(kp.scan())
    seq.append(kp.scan())
    # Roll over to another key while still holding 5: 5 (row 1) wins until released.
    model.press("9")
    seq.append(kp.scan())
    seq.append(kp.scan())
    model.release("5")
    seq.append(kp.scan())
    seq.append(kp.scan())
    seq.append(kp.pressed())
    model.release("9")
    seq.append(kp.scan())
    seq.append(kp.scan())
    seq.append(kp.pressed())
    # A button beats a matrix key pressed at the same time.
    model.press("0")
    model.press("B")
    seq.append(kp.scan())
    seq.append(kp.scan())
    model.release_all()
    seq.append(kp.scan())
    seq.append(kp.scan())
    errors = 0
    for bad in (dict(keymap="123"), dict(buttons=(("AB", rows[0]),))):
        try:
            Keypad(rows, cols, **bad)
        except ValueError:
            errors += 1
    return {"seq": seq, "errors": errors}


def keypad_scan_allocates_nothing():
    kp, model, rows, cols = _keypad_rig()
    model.press("8")
    micropython.heap_lock()
    try:
        r1 = kp.scan()
        r2 = kp.scan()
        r3 = kp.scan()
        ok = True
    except MemoryError:
        ok = False
    micropython.heap_unlock()
    got = [r1, r2, r3] if ok else []
    return {"ok": ok, "got": got}


# ---- relay --------------------------------------------------------------------------------
def _relay_rig(closed, pulse_ms=50, min_pulse_ms=20):
    t = SimTime()
    set_pin = Pin(16, Pin.OUT)
    reset_pin = Pin(17, Pin.OUT)
    fb = Pin(34, Pin.IN)
    model = LatchingRelayModel(t, set_pin, reset_pin, fb, min_pulse_ms=min_pulse_ms, closed=closed)
    relay = LatchingRelay(set_pin, reset_pin, fb, pulse_ms=pulse_ms, sleep_ms=_sleeper(t))
    return t, model, relay, set_pin, reset_pin


def _errno(fn):
    try:
        fn()
    except OSError as e:
        return e.errno
    return 0


def relay_cycle():
    out = {}
    for closed in (True, False):
        t, model, relay, sp, rp = _relay_rig(closed)
        out["boot_%d" % closed] = [
            relay.is_closed(),
            model.state,
            model.operations,
            model.set_pulses + model.reset_pulses,
        ]
    t, model, relay, sp, rp = _relay_rig(True)
    relay.open()
    out["after_open"] = [relay.is_closed(), model.state, model.operations, t.now_ms()]
    relay.close()
    out["after_close"] = [relay.is_closed(), model.state, model.operations, t.now_ms()]
    relay.close()  # already closed: pulse again, nothing moves, no error
    out["close_again"] = [relay.is_closed(), model.operations, model.set_pulses]
    out["coils_idle"] = [sp.value(), rp.value()]
    out["overlaps"] = model.overlaps
    return out


def relay_faults():
    out = {}
    t, model, relay, sp, rp = _relay_rig(True, pulse_ms=10, min_pulse_ms=20)
    out["short_errno"] = _errno(relay.open)
    out["short"] = [model.state, model.operations, model.short_pulses, relay.is_closed()]
    t, model, relay, sp, rp = _relay_rig(True, pulse_ms=20, min_pulse_ms=20)
    out["exact_errno"] = _errno(relay.open)
    out["exact_state"] = model.state
    t, model, relay, sp, rp = _relay_rig(False)
    model.stick()
    out["stuck_errno"] = _errno(relay.close)
    out["stuck"] = [model.state, model.operations, sp.value(), rp.value()]
    model.unstick()
    out["unstuck_errno"] = _errno(relay.close)
    out["unstuck_state"] = model.state
    # Both coils at once (a broken driver) never moves the contact.
    t, model, relay, sp, rp = _relay_rig(False)
    sp(1)
    rp(1)
    t.advance(100_000)
    sp(0)
    rp(0)
    out["both"] = [model.state, model.operations, model.overlaps]
    # The driver forces the other coil off first.
    t, model, relay, sp, rp = _relay_rig(False)
    rp(1)  # e.g. left on by a crash mid-pulse
    relay.close()
    out["forced_off"] = [model.state, rp.value(), sp.value()]
    errors = 0
    for bad in (dict(pulse_ms=0), dict(pulse_ms=5000), dict(feedback_closed=2)):
        try:
            LatchingRelay(sp, rp, Pin(1, Pin.IN), sleep_ms=_sleeper(t), **bad)
        except ValueError:
            errors += 1
    out["bad_args"] = errors
    return out


# ---- power fail and covers ----------------------------------------------------------------
def power_fail_edges():
    t = SimTime()
    pin = Pin(39, Pin.IN)
    events = []
    downs = []
    pf = PowerFailComparator(pin, t, hold_up_ms=8, on_rail_down=downs.append)
    pin.irq(lambda p: events.append([t.now_us(), p.value()]), Pin.IRQ_FALLING | Pin.IRQ_RISING)
    t.advance(1000)
    pf.supply(False)
    t.advance(7999)
    mid = [pf.rail_ok, list(downs)]
    t.advance(1)
    end = [pf.rail_ok, list(downs)]
    t.advance(5000)
    pf.supply(True)
    # A dip shorter than the hold-up time: the pin pulses, the rail never drops.
    t.advance(1000)
    pf.supply(False)
    t.advance(3000)
    pf.supply(True)
    t.advance(20_000)
    # Falling-only trigger, as the firmware uses it.
    pin2 = Pin(36, Pin.IN)
    falls = []
    pf2 = PowerFailComparator(pin2)  # no sim_time: rail drops at once
    pin2.irq(lambda p: falls.append(p.value()), Pin.IRQ_FALLING)
    pf2.supply(False)
    pf2.supply(True)
    return {
        "events": events,
        "mid": mid,
        "end": end,
        "downs": downs,
        "failures": pf.failures,
        "dips": pf.dips,
        "irq_count": pin.irq_count,
        "falls": falls,
        "rail2": pf2.rail_down_at_us,
    }


def cover_edges():
    pins = [Pin(25, Pin.IN, Pin.PULL_UP), Pin(26, Pin.IN, Pin.PULL_UP)]
    covers = [CoverSwitch(pins[0], "terminal"), CoverSwitch(pins[1], "case")]
    seen = []
    for c in covers:
        c.pin.irq(
            lambda p, name=c.name: seen.append([name, p.value()]),
            Pin.IRQ_RISING | Pin.IRQ_FALLING,
        )
    covers[0].open()
    covers[0].open()  # already open: no edge
    covers[1].open()
    covers[0].close()
    covers[1].close()
    return {
        "seen": seen,
        "levels": [p.value() for p in pins],
        "ops": [c.operations for c in covers],
        "open_now": [c.is_open() for c in covers],
    }


# ---- the meter's screen: partial redraws ---------------------------------------------------
class _StubClock:
    def __init__(self, utc):
        self.utc = utc

    def timestamp_or_none(self):
        return self.utc


class _StubMeter:
    """What firmware/screen.py reads from the meter: the total registers and the clock."""

    def __init__(self, utc):
        self.clock = _StubClock(utc)
        self.regs = {
            "active_import": 12345,
            "active_export": 0,
            "reactive_import": 678,
            "reactive_export": 0,
        }

    def registers_wh(self):
        return dict(self.regs)


def screen_partial_redraw():
    """Each change redraws only its lines and sends only their LCD pages; the glass then
    shows exactly what one full redraw of the final state shows."""
    from firmware.screen import Screen

    t, spi, lcd, model, _ = _lcd_rig(True)
    screen = Screen(lcd)
    meter = _StubMeter(800_000_000)  # meter seconds (2000 epoch): a May morning, BST
    sent = []

    def draw():
        before = spi.device_bytes(model)
        changed = screen.draw(meter)
        sent.append((changed, spi.device_bytes(model) - before))

    draw()  # first draw: everything
    draw()  # nothing changed: nothing sent
    meter.clock.utc += 60  # the minute: the bottom line, page 7
    draw()
    meter.regs["active_import"] += 100  # 12.3 -> 12.4 kWh: line y=20..27, pages 2-3
    draw()
    meter.regs["active_export"] += 1000  # 0.0 -> 1.0 kWh: line y=36..43, pages 4-5
    meter.clock.utc += 3600
    draw()  # two separate lines: pages 4..7 in one run
    screen.on_key("#")  # the reactive page: labels and values change
    draw()
    got = model.pixels()
    _, _, lcd2, model2, _ = _lcd_rig(True)
    fresh = Screen(lcd2)
    fresh.page = screen.page
    fresh.draw(meter)
    return {"sent": sent, "same_as_full": got == model2.pixels(), "lines": list(screen.lines)}
