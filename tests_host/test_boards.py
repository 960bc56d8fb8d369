"""Board selection and pin tables: what a person wiring a board relies on."""

import os
import re

import pytest

import board
from board import esp32_devkit, pico
from mpy import run_scenario

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_unknown_board_is_a_clear_error_listing_the_known_boards():
    with pytest.raises(ValueError) as err:
        board.build("arduino_uno")
    assert str(err.value) == "unknown board 'arduino_uno'; known boards: esp32_devkit, pico, sim"


def test_default_board_on_the_host_is_the_virtual_board(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert board.default_name() == "sim"
    (tmp_path / "board.txt").write_text("pico\n")
    assert board.default_name() == "pico"


@pytest.mark.parametrize("module", [esp32_devkit, pico], ids=["esp32_devkit", "pico"])
def test_no_pin_is_used_twice(module):
    gpios = [v for k, v in module.PINS.items() if k != "keypad_addr"]
    assert len(gpios) == len(set(gpios)), module.PINS


def _readme_table(heading):
    text = open(os.path.join(ROOT, "board", "README.md")).read()
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    return {
        m.group(1): int(m.group(2)) for m in re.finditer(r"^\| (\w+) \| (\d+) \|", section, re.M)
    }


@pytest.mark.parametrize(
    ("module", "heading"),
    [(esp32_devkit, "## ESP32 DevKitC"), (pico, "## Raspberry Pi Pico")],
    ids=["esp32_devkit", "pico"],
)
def test_wiring_table_in_the_readme_matches_the_code(module, heading):
    pins = {k: v for k, v in module.PINS.items() if k != "keypad_addr"}
    assert _readme_table(heading) == pins


def test_esp32_input_only_pins_are_used_only_as_inputs():
    inputs_only = {34, 35, 36, 37, 38, 39}
    outputs = {
        "spi_sck",
        "spi_mosi",
        "cs_afe",
        "cs_fram",
        "cs_lcd",
        "lcd_dc",
        "uart_tx",
        "relay_set",
        "relay_reset",
        "aux_load",
        "i2c_scl",
        "i2c_sda",
    }
    for name in outputs:
        assert esp32_devkit.PINS[name] not in inputs_only, name


# ---- the real boards' bundles, built over the chip models (tests_host/scenarios/sc_boards.py)

BOARD_MODULES = {"esp32_devkit": esp32_devkit, "pico": pico}
README_HEADINGS = {"esp32_devkit": "## ESP32 DevKitC", "pico": "## Raspberry Pi Pico"}
BUNDLE_CASES = [
    ("esp32_devkit", "ade7953"),
    ("esp32_devkit", "atm90e32"),
    ("pico", "ade7953"),
    ("pico", "atm90e32"),
]
UI_KEYS = "123456789*0#AB"


def _readme_directions(heading):
    text = open(os.path.join(ROOT, "board", "README.md")).read()
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    return {
        m.group(1): (int(m.group(2)), m.group(3).strip())
        for m in re.finditer(r"^\| (\w+) \| (\d+) \| ([^|]+) \|", section, re.M)
    }


def _expected_pin_setup(board_name):
    """What the README's direction column says board/real.py configures on each GPIO:
    [mode, pull] with Pin.IN = 0, Pin.OUT = 1, Pin.PULL_UP = 1, -1 = not given. Bus pins are
    handed to SPI/I2C/UART only ([-1, -1]); keypad_int is wired but not configured."""
    out = {}
    for signal, (gpio, direction) in _readme_directions(README_HEADINGS[board_name]).items():
        if signal.split("_")[0] in ("spi", "i2c", "uart"):
            out[str(gpio)] = [-1, -1]
        elif signal == "keypad_int":
            continue
        elif direction.startswith("out"):
            out[str(gpio)] = [1, -1]
        elif direction.startswith("in"):
            out[str(gpio)] = [0, 1 if direction == "in (pull-up)" else -1]
        else:
            raise AssertionError("README direction %r for %s" % (direction, signal))
    return out


@pytest.mark.parametrize(
    ("board_name", "afe"), BUNDLE_CASES, ids=["-".join(c) for c in BUNDLE_CASES]
)
def test_real_board_bundle_talks_to_every_chip_at_its_declared_wiring(interp, board_name, afe):
    module = BOARD_MODULES[board_name]
    P = module.PINS
    r = run_scenario(interp, "sc_boards", "real_bundle", board_name, afe)
    assert r["name"] == board_name
    # Buses: the ids and pins of the board file, SPI mode 3 at 1 MHz, I2C at the PCF8574's
    # 100 kHz, the local port at 9600 baud.
    assert r["spi_calls"] == [
        [
            module.SPI_ID,
            {"sck": P["spi_sck"], "mosi": P["spi_mosi"], "miso": P["spi_miso"]},
            {"baudrate": 1_000_000, "polarity": 1, "phase": 1},
        ]
    ]
    assert r["spi_mode"] == [1, 1, 1_000_000]
    assert r["i2c_calls"] == [
        [module.I2C_ID, {"scl": P["i2c_scl"], "sda": P["i2c_sda"]}, {"freq": 100_000}]
    ]
    assert r["i2c_hz"] == 100_000
    assert r["uart_calls"] == [
        [
            module.UART_ID,
            {"tx": P["uart_tx"], "rx": P["uart_rx"]},
            {"baudrate": 9600, "rxbuf": 1024},
        ]
    ]
    # Every GPIO configured as the README's wiring table says, and nothing else touched.
    expected = _expected_pin_setup(board_name)
    if afe == "atm90e32":
        del expected[str(P["afe_irq"])]  # the ATM90E32 is timer-paced: its IRQ pin is unused
    assert r["pin_modes"] == expected
    # Metering front end: found at cs_afe, two windows read, together exactly the model's truth.
    windows = r["afe_windows"]
    assert [ok for ok, _ in windows] == [True, True]
    total = [a + b for a, b in zip(windows[0][1], windows[1][1], strict=True)]
    if afe == "ade7953":
        assert r["afe"] == "ADE7953"
        assert r["afe_version"] == 0x80
        assert r["afe_irq_is_wired_pin"] is True
        assert windows[1][1] == [6667, 0, 2000, 0]  # 1 kW and 300 var for one second
        assert total == r["afe_truth"] == [13333, 0, 4000, 0]
    else:
        assert r["afe"] == "ATM90E32"
        assert r["afe_version"] is None
        assert total == [c for phase in r["afe_truth"] for c in phase]
        assert r["afe_truth"] == [[177, 0, 53, 0]] * 3  # 2 s of 1 kW, 300 var; 3.125 mWh/count
    assert r["fram"] == [256 * 1024, True, True]  # RDID size; round trip; bytes in the model
    assert r["rtc"] == [24, 1, 1, 0, 0, 2, 0]  # 2024-01-01 00:00:02, Monday: 2 s of windows
    assert r["rtc_pmu"] == [0x25, 0x25]  # configure_backup: RAM and EEPROM (level, 2k, VDD)
    assert r["lcd_init"] == [True, True]
    assert r["lcd_frame"] == [True, 546]  # the glass shows the framebuffer, pixel for pixel
    assert r["keys"] == [[None, k, None] for k in UI_KEYS]
    assert r["no_key"] == [None, None, None]
    assert r["expander_latch_idle"] == 0xFF
    assert r["relay"] == [False, False, True, True]
    assert r["aux_load"] == [True, 1]
    assert r["power_fail"] == [1, 0]
    assert r["covers"] == [["terminal", 1, 0], ["case", 1, 0]]
    assert r["uart"] == [True, "7ea0", 9600]
    # ESP32: hardware timer 0 paces, slot 1 its own timer; RP2040: virtual timers only.
    timer_ids = [-1, -1] if board_name == "pico" else [0, 1]
    assert r["timer"] == ["Timer", timer_ids[0], [250_000, 500_000, 750_000, 1_000_000]]
    assert r["timer_slot1_id"] == timer_ids[1]
    assert r["wdt"] == ["WDT", 5_000_000]
    assert r["resets"] == 1


@pytest.mark.parametrize(
    ("board_name", "afe"), BUNDLE_CASES, ids=["-".join(c) for c in BUNDLE_CASES]
)
def test_real_board_bundle_has_the_virtual_boards_attributes(interp, board_name, afe):
    r = run_scenario(interp, "sc_boards", "real_bundle", board_name, afe)
    real_kinds = r["kinds"]
    sim_kinds = r["sim_kinds"]
    assert sorted(real_kinds) == sorted(sim_kinds)
    differ = {
        k: [real_kinds[k], sim_kinds[k]] for k in real_kinds if real_kinds[k] != sim_kinds[k]
    }
    # The only differences: the virtual board serves DLMS over TCP instead of its UART, and
    # carries its engine.
    assert differ == {"uart": ["UART", "None"], "sim": ["None", "SimBoard"]}
    assert real_kinds["afe"] == ("ADE7953" if afe == "ade7953" else "ATM90E32")
    assert real_kinds["afe_irq"] == ("Pin" if afe == "ade7953" else "None")


@pytest.mark.parametrize("board_name", ["esp32_devkit", "pico"])
def test_safe_mode_reads_button_a_through_the_expander(interp, board_name):
    # [A held, bus clock], [nothing held, ...], [5 held, ...], [A held but no PCF8574 answering]
    r = run_scenario(interp, "sc_boards", "safe_mode", board_name)
    assert r == [True, 100_000, False, 100_000, False, 100_000, False, 100_000]


def _rp2040_function(gpio, block):
    """RP2040 datasheet §1.4.3 (GPIO functions): the SPI / UART / I2C role of a GPIO."""
    if block == "SPI":
        return "SPI%d %s" % ((gpio // 8) % 2, ("RX", "CSn", "SCK", "TX")[gpio % 4])
    if block == "UART":
        return "UART%d %s" % ((0, 1, 1, 0)[(gpio // 4) % 4], ("TX", "RX", "CTS", "RTS")[gpio % 4])
    return "I2C%d %s" % ((gpio // 2) % 2, ("SDA", "SCL")[gpio % 2])


def test_pico_bus_pins_carry_the_functions_of_their_bus():
    P = pico.PINS
    got = [
        _rp2040_function(P["spi_sck"], "SPI"),
        _rp2040_function(P["spi_mosi"], "SPI"),
        _rp2040_function(P["spi_miso"], "SPI"),
        _rp2040_function(P["i2c_sda"], "I2C"),
        _rp2040_function(P["i2c_scl"], "I2C"),
        _rp2040_function(P["uart_tx"], "UART"),
        _rp2040_function(P["uart_rx"], "UART"),
    ]
    s, i, u = pico.SPI_ID, pico.I2C_ID, pico.UART_ID
    assert got == [
        "SPI%d SCK" % s,
        "SPI%d TX" % s,  # MOSI
        "SPI%d RX" % s,  # MISO
        "I2C%d SDA" % i,
        "I2C%d SCL" % i,
        "UART%d TX" % u,
        "UART%d RX" % u,
    ]


def test_esp32_spi_uses_the_vspi_io_mux_pins():
    # ESP32 datasheet, IO_MUX: VSPI (MicroPython SPI(2)) is CLK 18, MOSI 23, MISO 19; on the
    # IO_MUX pins the bus is not limited by the GPIO matrix.
    P = esp32_devkit.PINS
    assert esp32_devkit.SPI_ID == 2
    assert (P["spi_sck"], P["spi_mosi"], P["spi_miso"]) == (18, 23, 19)


# ---- the PCF8574 and the 4x4 keypad behind it (hal/pcf8574.py, hal/sim/pcf8574_model.py)


def test_expander_scans_every_key_of_the_4x4_matrix(interp):
    from board.real import KEYMAP_4X4

    r = run_scenario(interp, "sc_boards", "expander_every_key")
    expected = []
    for i, key in enumerate(KEYMAP_4X4):
        if key == " ":
            continue  # positions not fitted
        row, col = divmod(i, 4)
        # Rows above: write low, 4 column reads, write high; then this row up to the column.
        cost = 6 * row + 1 + (col + 1) + 1
        expected.append([key, [None, key, None], key, cost])
    assert r["keys"] == expected
    assert r["idle"] == [None, None, None]
    assert r["idle_scan_transactions"] == 24  # 4 rows x (2 writes + 4 reads)
    assert r["latch_after"] == r["levels_after"] == 0xFF  # every row released after a scan


def test_expander_two_keys_first_in_scan_order_wins(interp):
    r = run_scenario(interp, "sc_boards", "expander_two_keys")
    assert r["pairs"] == [
        ["5", "A", [None, "A", None]],  # row 0 before row 1
        ["2", "1", [None, "1", None]],  # same row: left column first
        ["#", "7", [None, "7", None]],
        ["0", "*", [None, "*", None]],
        ["B", "9", [None, "B", None]],
    ]
    # 5 held, 9 added (5 still wins: no new edge), 5 released (9 becomes the key).
    assert r["rollover"] == [None, "5", None, None, None, None, None, "9", None]


def test_expander_model_port_and_interrupt(interp):
    r = run_scenario(interp, "sc_boards", "expander_port")
    assert r == {
        "address": 0x25,  # A2 A1 A0 = 1 0 1
        "por": [0xFF, 0xFF],  # power-on: every latch 1, every pin reads high
        "press_rows_high": [0xFF, 1],  # rows idle high: a press changes nothing, no INT
        "rows_low": [0xF0, 1],  # the write itself raises no INT
        "press_rows_low": [0xB0, 0],  # key 6 (row 1, col 2): P6 pulled low, INT low
        "read": [0xB0, 1],  # the read returns pin levels and releases INT
        "release": [0xF0, 0],  # an input changed since that read
        "back_to_read_state": 1,  # inputs as at the last read again: INT released
        "latched_low": 0x7F,  # P7 latched 0 reads 0
        "multi_write": [0xFE, 0xFE, 5],  # each byte latched in turn, the last stays
    }


def test_expander_bus_errors_are_clear(interp):
    r = run_scenario(interp, "sc_boards", "expander_errors")
    assert r == [
        [19, "no PCF8574 answering at I2C address 0x20 (bus error 19)"],  # nothing on the bus
        [19, "no PCF8574 answering at I2C address 0x22 (bus error 19)"],  # strapped to 0x21
        "PCF8574 address must be 0x20-0x27 (or 0x38-0x3F for the A part)",
        [19, "PCF8574 at 0x20: I2C write failed"],  # NACK during a scan (row write)
        [19, "PCF8574 at 0x20: I2C read failed"],  # NACK on a pin read
        [19, "no PCF8574 answering at I2C address 0x20 (bus error 5)"],  # 400 kHz: EIO
        "address pins A2..A0 are 0 or 1",
        "variant is 'PCF8574' or 'PCF8574A'",
        0x3F,  # PCF8574A with A2..A0 high
    ]
