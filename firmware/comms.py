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
import socket
import sys

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
    key = (host, port) if port else None  # ephemeral listeners are never shared
    listener = _listener(key, host, port)
    conns = _CONNECTIONS.setdefault(id(listener), {})  # socket -> its stream (or itself)
    _close_all(conns)  # left by a loop a keyboard interrupt abandoned: their tasks are gone
    if on_ready is not None:
        on_ready(listener.getsockname()[1] if hasattr(listener, "getsockname") else port)
    try:
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:  # EAGAIN: nobody is waiting
                await asyncio.sleep(_ACCEPT_POLL_MS / 1000)
                continue
            if len(conns) >= max_conns:
                STATS["refused"] += 1
                sock.close()
                continue
            conns[sock] = sock
            STATS["connections"] += 1
            asyncio.create_task(_connection(sock, conns, serve, server, idle_s))
    finally:
        # Cancelled (the meter stopped or the board powered down): the port closes with it.
        _LISTENING.pop(key, None)
        _CONNECTIONS.pop(id(listener), None)
        _close_all(conns)
        listener.close()


async def _connection(sock, conns, serve, server, idle_s):
    """One accepted connection: serve it, count how it ended, always close it."""
    conn = object()
    try:
        sock.setblocking(False)
        reader, writer = await _streams(sock)
        conns[sock] = _closer(sock, writer)
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
        _close_quietly(conns.pop(sock, sock))
        server.on_link(False, None, conn)


# Listening sockets by (host, port), and the connections each has open. They live in the
# module, not in a task: a keyboard interrupt on the REPL abandons the event loop with every
# task in it, and the resumed meter must get the same port back. It re-uses the listening
# socket (a client that connected while the meter was stopped is then served) and closes the
# connections whose tasks died with the old loop.
_LISTENING = {}
_CONNECTIONS = {}
_BACKLOG = 4
# Accept is polled (a non-blocking accept() every 20 ms): one code path on CPython and
# MicroPython with only public asyncio API; it costs a connection at most 20 ms.
_ACCEPT_POLL_MS = 20


def _listener(key, host, port):
    """The listening socket for key: the one a previous loop left, or a new one."""
    entry = _LISTENING.get(key) if key is not None else None
    if entry is not None:
        sock, ready = entry
        if ready:
            return sock
        _close_quietly(sock)  # interrupted while it was being set up: start again
    sock = socket.socket()
    if key is not None:
        _LISTENING[key] = (sock, False)  # known before bind: an interrupt cannot orphan it
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(socket.getaddrinfo(host, port)[0][-1])
        sock.listen(_BACKLOG)
        sock.setblocking(False)
    except BaseException:
        _LISTENING.pop(key, None)
        sock.close()
        raise
    if key is not None:
        _LISTENING[key] = (sock, True)
    return sock


if sys.implementation.name == "micropython":

    async def _streams(sock):
        stream = asyncio.StreamReader(sock)  # MicroPython: one Stream reads and writes
        return stream, stream

    def _closer(sock, writer):
        return sock  # MicroPython's Stream.close() leaves the socket open (wait_closed shuts it)

else:

    async def _streams(sock):
        return await asyncio.open_connection(sock=sock)

    def _closer(sock, writer):
        return writer  # CPython: the transport owns the socket; closing the writer closes it


def _close_all(conns):
    for closable in tuple(conns.values()):
        _close_quietly(closable)
    conns.clear()


def _close_quietly(closable):
    """Close a socket or a stream writer (whose close() closes its socket, on both ports)."""
    try:
        closable.close()
    except OSError:
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
