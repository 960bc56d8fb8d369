"""Raspberry Pi Pico (RP2040, MicroPython RPI_PICO): pin table and bus numbers.

Wiring, bill of materials and supercap sizing: board/README.md. The REPL is on USB, so UART0
(GP0/GP1) is free for the local port.
"""

from board import real

PINS = {
    "spi_sck": 18,
    "spi_mosi": 19,
    "spi_miso": 16,
    "cs_afe": 17,
    "cs_fram": 20,
    "cs_lcd": 21,
    "lcd_dc": 22,
    "i2c_sda": 4,
    "i2c_scl": 5,
    "uart_tx": 0,
    "uart_rx": 1,
    "afe_irq": 2,
    "power_fail": 3,
    "cover_terminal": 6,
    "cover_case": 7,
    "relay_set": 8,
    "relay_reset": 9,
    "relay_feedback": 10,
    "aux_load": 11,
    "keypad_int": 12,
    "keypad_addr": 0x20,
}
SPI_ID = 0
I2C_ID = 0
UART_ID = 0


def build(afe="ade7953"):
    return real.build("pico", PINS, SPI_ID, I2C_ID, UART_ID, afe=afe)


def safe_mode_requested():
    return real.safe_mode_requested(PINS, I2C_ID)
