"""The board's local port: a real DLMS/COSEM client (dlms-cosem, unmodified) reads the meter.

On the virtual board the local port is the TCP wrapper on 127.0.0.1 (the real boards speak
HDLC on their UART, which needs an optical probe: run tools/read.py against it by hand).
"""

import pytest


def test_dlms_client_reads_clock_and_registers(board):
    if board.dlms_port is None:
        pytest.skip("a real board's local port is its UART: use tools/read.py with a probe")
    # The meter has been interrupted and resumed from the REPL by earlier tests: its local
    # port must still answer (firmware/comms.py keeps its listening socket across the interrupt).
    out = board.read_local_port("wrapper", board.dlms_port)
    assert out["clock"].startswith("20")
    reg = out["registers"]["1.0.1.8.0.255"]
    assert reg["scaler"] == 0 and reg["unit"] == 30
    # The meter keeps counting: what mpremote sees afterwards is at least what DLMS read.
    status = board.status()
    assert 0 <= reg["value"] <= status["registers_wh"]["active_import"]
