"""ESP32-WROOM-32E DevKitC (MicroPython ESP32_GENERIC): pin table and bus numbers.

Wiring, bill of materials and supercap sizing: board/README.md. GPIO 34-39 are input-only
without internal pull-ups: the AFE IRQ, power-fail, cover switches and relay feedback that use
them have external pull-ups on the board. GPIO 0, 2, 12 and 15 are boot straps: 2 and 15 only
drive chip selects/DC after boot, 0 and 12 are left unused.
"""

from board import real

PINS = {
    "spi_sck": 18,
    "spi_mosi": 23,
    "spi_miso": 19,
    "cs_afe": 5,
    "cs_fram": 15,
    "cs_lcd": 4,
    "lcd_dc": 2,
    "i2c_sda": 21,
    "i2c_scl": 22,
    "uart_tx": 17,
    "uart_rx": 16,
    "afe_irq": 34,
    "power_fail": 35,
    "cover_terminal": 36,
    "cover_case": 39,
    "relay_set": 25,
    "relay_reset": 26,
    "relay_feedback": 27,
    "aux_load": 32,
    "keypad_int": 33,
    "keypad_addr": 0x20,
}
SPI_ID = 2  # VSPI
I2C_ID = 0
UART_ID = 2


def build(afe="ade7953"):
    return real.build("esp32_devkit", PINS, SPI_ID, I2C_ID, UART_ID, afe=afe)


def safe_mode_requested():
    return real.safe_mode_requested(PINS, I2C_ID)
