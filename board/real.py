"""Building the Hardware bundle on a real board from a pin table (ESP32 DevKitC, Pico).

board/esp32_devkit.py and board/pico.py hold only their pin tables and bus numbers; the
construction order is shared here: gc first and big buffers early (docs constrained.rst),
then buses, then drivers. The keypad (4x4: digits, *, #, A, B) sits behind a PCF8574 on the
I2C bus because neither board has enough free GPIOs (board/README.md). Nothing here runs on
the host except under the compile gate.
"""

import gc
import time

from board.bundle import Hardware

# Keypad matrix behind the expander: rows on P0-P3, columns on P4-P7 (board/README.md).
# Row-major; the fourth column carries A and B, its two lower positions are not fitted.
KEYMAP_4X4 = "123A456B789 *0# "
# The I2C bus carries the RV-3032 (up to 400 kHz) and the PCF8574, a Standard-mode part
# (100 kHz, NXP PCF8574 data sheet Rev. 5 §2): the bus runs at the slower device's limit.
# MicroPython's default (400 kHz on ESP32 and RP2040) would be out of the expander's spec.
I2C_HZ = 100_000


def _keypad_pins(i2c, address):
    from hal.pcf8574 import PCF8574

    port = PCF8574(i2c, address)
    return [port.pin(i) for i in range(4)], [port.pin(4 + i) for i in range(4)]


def safe_mode_requested(pins, i2c_id):
    """Button A held at reset: row 0 pulled low reads column 3 low."""
    import machine  # here, not at import time: the pin tables are importable on the host

    try:
        Pin = machine.Pin
        i2c = machine.I2C(i2c_id, scl=Pin(pins["i2c_scl"]), sda=Pin(pins["i2c_sda"]), freq=I2C_HZ)
        rows, cols = _keypad_pins(i2c, pins["keypad_addr"])
    except OSError:
        return False  # no keypad answering: cannot be held
    rows[0].value(0)
    held = cols[3].value() == 0
    rows[0].value(1)
    return held


def build(name, pins, spi_id, i2c_id, uart_id, afe="ade7953"):
    import machine

    from hal.fram import MB85RS
    from hal.keypad import Keypad
    from hal.relay import LatchingRelay
    from hal.rv3032 import RV3032
    from hal.st7567 import ST7567

    gc.collect()
    Pin = machine.Pin
    hw = Hardware(name)
    hw.ticks_ms = time.ticks_ms
    hw.sleep_ms = time.sleep_ms
    spi = machine.SPI(
        spi_id,
        baudrate=1_000_000,
        # Mode 3: the ATM90E32 needs it; the ADE7953, MB85RS and ST7567 accept modes 0 and 3.
        polarity=1,
        phase=1,
        sck=Pin(pins["spi_sck"]),
        mosi=Pin(pins["spi_mosi"]),
        miso=Pin(pins["spi_miso"]),
    )
    i2c = machine.I2C(i2c_id, scl=Pin(pins["i2c_scl"]), sda=Pin(pins["i2c_sda"]), freq=I2C_HZ)

    cs_afe = Pin(pins["cs_afe"], Pin.OUT, value=1)
    if afe == "atm90e32":
        from hal.atm90e32 import ATM90E32

        hw.afe = ATM90E32(spi, cs_afe, sleep_ms=time.sleep_ms)
    else:
        from hal.ade7953 import ADE7953

        hw.afe_irq = Pin(pins["afe_irq"], Pin.IN)
        hw.afe = ADE7953(spi, cs_afe, irq=hw.afe_irq, sleep_ms=time.sleep_ms)

    hw.fram = MB85RS(spi, Pin(pins["cs_fram"], Pin.OUT, value=1))
    hw.rtc = RV3032(i2c, sleep_ms=time.sleep_ms)
    # Level switching + trickle charge for the supercap (board/README.md sizing); the EEPROM
    # is written only when the stored value differs, so this is safe at every boot.
    hw.rtc.configure_backup()
    hw.lcd = ST7567(
        spi,
        Pin(pins["cs_lcd"], Pin.OUT, value=1),
        Pin(pins["lcd_dc"], Pin.OUT, value=0),
        sleep_ms=time.sleep_ms,
    )
    rows, cols = _keypad_pins(i2c, pins["keypad_addr"])
    hw.keypad = Keypad(rows, cols, keymap=KEYMAP_4X4)
    hw.relay = LatchingRelay(
        Pin(pins["relay_set"], Pin.OUT, value=0),
        Pin(pins["relay_reset"], Pin.OUT, value=0),
        Pin(pins["relay_feedback"], Pin.IN, Pin.PULL_UP),
        sleep_ms=time.sleep_ms,
    )
    hw.aux_load = Pin(pins["aux_load"], Pin.OUT, value=0)
    hw.power_fail = Pin(pins["power_fail"], Pin.IN)
    hw.covers = (
        ("terminal", Pin(pins["cover_terminal"], Pin.IN)),
        ("case", Pin(pins["cover_case"], Pin.IN)),
    )
    hw.uart = machine.UART(
        uart_id, baudrate=9600, tx=Pin(pins["uart_tx"]), rx=Pin(pins["uart_rx"]), rxbuf=1024
    )
    # ESP32: hardware timers 0-3, one per slot (board/bundle.py new_timer); RP2040: only
    # virtual timers (id -1), each call a new one.
    hw.new_timer = lambda period_ms, cb, timer_id=0: machine.Timer(
        -1 if name == "pico" else timer_id,
        mode=machine.Timer.PERIODIC,
        period=period_ms,
        callback=cb,
    )
    hw.new_wdt = lambda timeout_ms: machine.WDT(timeout=timeout_ms)
    hw.reset = machine.reset
    return hw
