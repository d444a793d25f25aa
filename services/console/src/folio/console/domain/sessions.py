"""Server-side sessions: idle and absolute expiry. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

#: A session's last_seen_at is written at most this often (not on every request).
TOUCH_INTERVAL = timedelta(seconds=60)


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta
    absolute: timedelta

    def expires_at(self, created_at: datetime) -> datetime:
        return created_at + self.absolute

    def is_live(self, session: Session, now: datetime) -> bool:
        return (
            session.ended_at is None
            and now < session.expires_at
            and now < session.last_seen_at + self.idle
        )

    def needs_touch(self, session: Session, now: datetime) -> bool:
        return now - session.last_seen_at >= TOUCH_INTERVAL


@dataclass(frozen=True)
class Session:
    token_hash: str
    user_id: UUID
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ended_at: datetime | None
