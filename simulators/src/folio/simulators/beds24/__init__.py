"""Local Beds24 API v2 simulator (read endpoints, token refresh, rate-limit headers).

Every request it receives is recorded so tests can prove Folio never sent a write.
"""

from folio.simulators.beds24.app import (
    Beds24SimState,
    RecordedRequest,
    SimBooking,
    SimRoom,
    create_app,
)

DEFAULT_PORT = 8202

__all__ = [
    "DEFAULT_PORT",
    "Beds24SimState",
    "RecordedRequest",
    "SimBooking",
    "SimRoom",
    "create_app",
]
