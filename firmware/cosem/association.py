"""Application associations: who the client is, what it may do, what was negotiated.

Access levels (CoP 10 "three levels of passwords" plus the public client; dlms.md §2,
reliability.md §5). Client SAP -> level, mechanism, key set:

    SAP 16  PUBLIC    no authentication, LN context      display-grade reads only
    SAP 17  READER    LLS password, LN context           every readable object
    SAP  1  OPERATOR  HLS-GMAC, LN ciphered, key set 0   + clock set/sync (time-set, ops)
    SAP  2  CONFIG    HLS-GMAC, LN ciphered, key set 1   + identity, password, key transfer

A level includes the rights of the levels below it. The AARQ must name the context and
mechanism of its SAP, else the AARE is rejected (context 2 / mechanism 11-12 diagnostics).
Negotiation: conformance = client's proposal AND the meter's; the meter sends no APDU longer
than the client's max receive PDU size, capped at the meter's own limit (`send_limit`), and
announces `server_max_receive` (the most it accepts). HLS-GMAC associations stay PENDING
(level NONE) until the client's f(StoC) has been verified through reply_to_HLS.
"""

from micropython import const

from firmware.cosem import apdu

NONE = const(-1)
PUBLIC = const(0)
READER = const(1)
OPERATOR = const(2)
CONFIG = const(3)
LEVEL_NAMES = ("public", "reader", "operator", "config")

# client SAP -> (level, application context, mechanism, key set or -1)
SAPS = {
    16: (PUBLIC, apdu.CTX_LN, apdu.MECH_NONE, -1),
    17: (READER, apdu.CTX_LN, apdu.MECH_LLS, -1),
    1: (OPERATOR, apdu.CTX_LN_CIPHERED, apdu.MECH_HLS_GMAC, 0),
    2: (CONFIG, apdu.CTX_LN_CIPHERED, apdu.MECH_HLS_GMAC, 1),
}

# Conformance bits (bit 0 = MSB of the 24-bit block; dlms.md §4).
CONF_GENERAL_PROTECTION = const(1 << 22)
CONF_BLOCK_GET = const(1 << 12)
CONF_MULTIPLE_REFERENCES = const(1 << 9)
CONF_GET = const(1 << 4)
CONF_SET = const(1 << 3)
CONF_SELECTIVE_ACCESS = const(1 << 2)
CONF_ACTION = const(1 << 0)
# What the meter implements: 0x40121D.
METER_CONFORMANCE = const(
    CONF_GENERAL_PROTECTION
    | CONF_BLOCK_GET
    | CONF_MULTIPLE_REFERENCES
    | CONF_GET
    | CONF_SET
    | CONF_SELECTIVE_ACCESS
    | CONF_ACTION
)

PENDING = const(1)
ASSOCIATED = const(2)


class Association:
    """One open association (one per connection and client SAP)."""

    def __init__(self, sap, level, context, mechanism, keyset):
        self.sap = sap
        self.target = level  # the level once authentication is complete
        self.level = NONE if mechanism == apdu.MECH_HLS_GMAC else level
        self.context = context
        self.mechanism = mechanism
        self.keyset = keyset
        self.status = PENDING if self.level == NONE else ASSOCIATED
        self.conformance = 0
        self.send_limit = 0
        self.client_title = None
        self.stoc = None
        self.ctos = None
        self.pending = None  # GET block transfer in progress (server.py _Blocks)
        self.denials_logged = 0

    @property
    def ciphered(self):
        return self.context == apdu.CTX_LN_CIPHERED

    def complete(self):
        """f(StoC) verified: the association gets its level."""
        self.level = self.target
        self.status = ASSOCIATED
        self.stoc = None


def negotiate(assoc, proposed, client_pdu, meter_conformance, meter_pdu):
    assoc.conformance = proposed & meter_conformance
    assoc.send_limit = min(client_pdu, meter_pdu)
