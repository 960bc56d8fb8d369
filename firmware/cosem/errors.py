"""Exceptions of the DLMS/COSEM codecs (HDLC, TCP wrapper, A-XDR).

Every decoder raises ProtocolError (a ValueError) for input that breaks the wire format, so a
transport loop needs one `except ProtocolError` around untrusted bytes. Encoders raise
plain ValueError for caller mistakes and EncodeOverflow when the caller's buffer is full
(the GET service then switches to block transfer).
"""


class ProtocolError(ValueError):
    """Malformed or unacceptable bytes from the peer."""


class FcsError(ProtocolError):
    """HDLC header or frame check sequence mismatch (IEC 62056-46 HCS/FCS)."""


class EncodeOverflow(ValueError):
    """The encoder ran past the end of the caller-provided buffer."""
