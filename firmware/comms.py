"""The meter's communication tasks: DLMS/COSEM over the board UART and over TCP.

    asyncio.create_task(comms.serve_uart(hw.uart, server))               # HDLC, local port
    asyncio.create_task(comms.serve_tcp("127.0.0.1", 4059, "wrapper", server))
    asyncio.create_task(comms.serve_tcp("127.0.0.1", 4061, "hdlc", server))

`server` is a firmware/cosem/server.py CosemServer. Transports (dlms.md §1):
- "wrapper": IEC 62056-47 TCP wrapper (firmware/cosem/wrapper.py), APDU per header.
- "hdlc": IEC 62056-46 HDLC frames on the socket (firmware/cosem/hdlc.py), its own HDLC
  state per connection, exactly as on the UART.

Every connection has fixed-size buffers (the decoders preallocate; reads are at most
_READ bytes), at most `max_conns` connections are served at once (later ones are closed
at once), an idle connection is closed after `idle_s`, and nothing a peer sends can raise
out of a task: decoder errors close that connection (wrapper: the stream is out of step) or
are dropped and counted (HDLC: bad frames are skipped by the deframer), and any other
exception is counted in STATS and ends only that connection.
"""

import asyncio

from firmware.cosem import hdlc, wrapper
from firmware.cosem.errors import ProtocolError

_READ = 256
_HDLC_IDLE_MS = 100  # inter-frame gap after which a partial HDLC frame is given up
STATS = {"connections": 0, "refused": 0, "protocol_errors": 0, "errors": 0, "timeouts": 0}


def _hdlc_session(server, send, conn):
    return hdlc.HdlcServer(
        send,
        lambda sap, ld, data: server.handle(sap, ld, data, conn),
        logical_devices=(1,),
        max_info=hdlc.DEFAULT_MAX_INFO,
        max_apdu=server.max_pdu + 64,
        on_link=lambda connected, sap: server.on_link(connected, sap, conn),
    )


async def _read(reader, timeout_s):
    return await asyncio.wait_for(reader.read(_READ), timeout_s)


async def _serve_wrapper(reader, writer, server, conn, idle_s):
    dec = wrapper.WrapperDecoder(server.max_pdu + 64)
    while True:
        data = await _read(reader, idle_s)
        if not data:
            return
        for src, dst, apdu in dec.feed(data):  # ProtocolError -> caller closes
            resp = server.handle(src, dst, apdu, conn)
            if resp:
                writer.write(wrapper.encode(dst, src, resp))
        await writer.drain()


async def _serve_hdlc(reader, writer, server, conn, idle_s):
    session = _hdlc_session(server, lambda frame: writer.write(bytes(frame)), conn)
    quiet_ms = 0
    try:
        while True:
            try:
                data = await asyncio.wait_for(reader.read(_READ), _HDLC_IDLE_MS / 1000)
            except asyncio.TimeoutError:
                session.idle()
                quiet_ms += _HDLC_IDLE_MS
                if quiet_ms >= idle_s * 1000:
                    STATS["timeouts"] += 1
                    return
                await writer.drain()
                continue
            if not data:
                return
            quiet_ms = 0
            session.feed(data)
            await writer.drain()
    finally:
        session.disconnect()


async def serve_tcp(host, port, kind, server, max_conns=4, idle_s=120, on_ready=None):
    """Serve DLMS/COSEM on host:port until cancelled. kind: "wrapper" or "hdlc".

    on_ready(port) is called once listening (port 0 = an ephemeral port, tests)."""
    if kind not in ("wrapper", "hdlc"):
        raise ValueError("kind must be 'wrapper' or 'hdlc'")
    serve = _serve_wrapper if kind == "wrapper" else _serve_hdlc
    active = [0]

    async def handler(reader, writer):
        conn = object()
        if active[0] >= max_conns:
            STATS["refused"] += 1
            await _close(writer)
            return
        active[0] += 1
        STATS["connections"] += 1
        try:
            await serve(reader, writer, server, conn, idle_s)
        except ProtocolError:
            STATS["protocol_errors"] += 1
        except asyncio.TimeoutError:
            STATS["timeouts"] += 1
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a peer must never kill the task
            STATS["errors"] += 1
        finally:
            active[0] -= 1
            server.on_link(False, None, conn)
            await _close(writer)

    _shut_stale(host, port)
    srv = await asyncio.start_server(handler, host, port)
    _LISTENING[(host, port)] = srv
    if on_ready is not None:
        socks = getattr(srv, "sockets", None)
        on_ready(socks[0].getsockname()[1] if socks else port)
    try:
        while True:
            await asyncio.sleep(3600)
    finally:
        srv.close()
        await srv.wait_closed()


# Listening servers by (host, port). A keyboard interrupt on the REPL abandons the asyncio loop
# without running any task's cleanup, so a resumed loop would find its port still bound.
_LISTENING = {}


def _shut_stale(host, port):
    """Close a listener left behind by an abandoned loop, so the port can be bound again."""
    old = _LISTENING.pop((host, port), None)
    if old is None:
        return
    try:
        old.close()  # CPython closes the socket here; MicroPython only cancels its task
    except Exception:  # noqa: BLE001 - the old loop is gone; best effort
        pass
    coro = getattr(getattr(old, "task", None), "coro", None)
    if coro is not None:
        # MicroPython: the socket lives in the server task's coroutine and is closed by its
        # CancelledError handler; the dead loop will never run it, so run it here.
        try:
            coro.throw(asyncio.CancelledError())
        except BaseException:  # noqa: BLE001 - StopIteration once the handler has closed it
            pass


async def _close(writer):
    try:
        writer.close()
        await writer.wait_closed()
    except Exception:  # noqa: BLE001 - the peer may already be gone
        pass


async def serve_uart(uart, server, poll_ms=5, idle_s=120):
    """HDLC on the local-port UART (polled: works on every port and on the virtual board)."""
    session = _hdlc_session(server, uart.write, "uart")
    buf = bytearray(_READ)
    quiet_ms = 0
    while True:
        try:
            n = uart.any()
            if n:
                n = uart.readinto(buf, min(n, _READ)) or 0
            if n:
                quiet_ms = 0
                session.feed(memoryview(buf)[:n])
            else:
                if quiet_ms < _HDLC_IDLE_MS <= quiet_ms + poll_ms:
                    session.idle()
                quiet_ms += poll_ms
                if quiet_ms >= idle_s * 1000 and session.state != hdlc.NDM:
                    session.disconnect()
                    quiet_ms = 0
        except Exception:  # noqa: BLE001 - the meter keeps serving whatever arrives
            STATS["errors"] += 1
            session.disconnect()
        await asyncio.sleep(poll_ms / 1000)
