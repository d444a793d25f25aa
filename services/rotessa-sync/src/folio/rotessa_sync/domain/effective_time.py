"""When a Rotessa payment counts in the books.

Rule: a transaction takes effect at **00:00 on its process date in
America/Toronto**, converted to UTC (05:00Z in winter, 04:00Z in summer).

Why: the process date is a Canadian banking day. Start-of-day Toronto keeps the
payment on that same calendar date both in Toronto and in UTC, so a balance
"as of the end of day D" (in either zone) includes every payment processed on D
and none processed on D+1. The rule is deterministic, so a resumed or repeated
backfill yields byte-identical events. The zone is configurable
(``ROTESSA_TIMEZONE``) for a business that closes its books elsewhere.
"""

from datetime import UTC, date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo

DEFAULT_BUSINESS_TIMEZONE = "America/Toronto"


# A report has many rows per process date; the zone arithmetic is most of a row's planning.
@lru_cache(maxsize=8192)
def effective_at_for(process_date: date, timezone: str = DEFAULT_BUSINESS_TIMEZONE) -> datetime:
    """The UTC instant at which a payment processed on ``process_date`` takes effect."""
    local_midnight = datetime.combine(process_date, time(0, 0), tzinfo=ZoneInfo(timezone))
    return local_midnight.astimezone(UTC)


def reversed_at_for(
    process_date: date,
    status_changed_at: datetime | None,
    timezone: str = DEFAULT_BUSINESS_TIMEZONE,
) -> datetime:
    """When a chargeback takes effect: when Rotessa recorded the status change.

    Falls back to the payment's own effective time when Rotessa gives no usable
    timestamp, and never goes earlier than it (a reversal cannot precede the payment).
    """
    effective_at = effective_at_for(process_date, timezone)
    if status_changed_at is None or status_changed_at.tzinfo is None:
        return effective_at
    return max(status_changed_at.astimezone(UTC), effective_at)
