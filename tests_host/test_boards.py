"""Board selection and pin tables: what a person wiring a board relies on."""

import os
import re

import pytest

import board
from board import esp32_devkit, pico

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
