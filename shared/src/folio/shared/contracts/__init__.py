"""Event contracts: the only code that crosses service boundaries.

Every Kafka message value is an :class:`Envelope` whose ``data`` is one of the
frozen payload models below, chosen by ``event_type`` (see ``EVENT_MODELS``).
Changes inside a schema version are additive; consumers ignore unknown fields.
"""

from folio.shared.contracts.envelope import (
    Envelope,
    decode_envelope,
    new_envelope,
    new_event_id,
    new_event_ids,
)
from folio.shared.contracts.events import (
    EVENT_MODELS,
    TOPICS,
    BookingExtended,
    EventPayload,
    LedgerCommandRejected,
    LedgerEntryChanged,
    LedgerMetadataChanged,
    LedgerPosting,
    LedgerTransactionCommitted,
    MortgageChanged,
    PaymentAuthorized,
    PaymentCollected,
    PaymentFailed,
    PaymentRefunded,
    PaymentReversed,
    PaymentVerified,
    RenewalRequested,
    ScheduleLinked,
    event_type_of,
)
from folio.shared.contracts.money import CURRENCY_EXPONENTS, Currency, minor_to_decimal, to_minor

__all__ = [
    "CURRENCY_EXPONENTS",
    "EVENT_MODELS",
    "TOPICS",
    "BookingExtended",
    "Currency",
    "Envelope",
    "EventPayload",
    "LedgerCommandRejected",
    "LedgerEntryChanged",
    "LedgerMetadataChanged",
    "LedgerPosting",
    "LedgerTransactionCommitted",
    "MortgageChanged",
    "PaymentAuthorized",
    "PaymentCollected",
    "PaymentFailed",
    "PaymentRefunded",
    "PaymentReversed",
    "PaymentVerified",
    "RenewalRequested",
    "ScheduleLinked",
    "decode_envelope",
    "event_type_of",
    "minor_to_decimal",
    "new_envelope",
    "new_event_id",
    "new_event_ids",
    "to_minor",
]
