"""Console repositories on one SQLAlchemy session (the unit of work's)."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from folio.console.adapters.tables import sessions, sign_in_failures, users
from folio.console.domain.sessions import Session
from folio.console.domain.users import Role, User


def _user(row: Any) -> User:
    return User(
        id=row.id,
        email=row.email,
        display_name=row.display_name,
        role=Role(row.role),
        enabled=row.enabled,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
    )


class UsersRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, user: User, password_hash: str) -> bool:
        """Insert; False when the e-mail is taken (the unique constraint decides)."""
        statement = (
            pg_insert(users)
            .values(
                id=user.id,
                email=user.email,
                display_name=user.display_name,
                password_hash=password_hash,
                role=user.role.value,
                enabled=user.enabled,
                created_at=user.created_at,
                updated_at=user.updated_at,
                version=user.version,
            )
            .on_conflict_do_nothing(constraint="users_email_unique")
            .returning(users.c.id)
        )
        return (await self.session.execute(statement)).scalar_one_or_none() is not None

    async def get(self, user_id: UUID, *, for_update: bool = False) -> User | None:
        query = sa.select(users).where(users.c.id == user_id)
        if for_update:
            query = query.with_for_update()
        row = (await self.session.execute(query)).first()
        return _user(row) if row else None

    async def credentials(self, email: str) -> tuple[User, str] | None:
        row = (await self.session.execute(sa.select(users).where(users.c.email == email))).first()
        return (_user(row), row.password_hash) if row else None

    async def list(self) -> list[User]:
        rows = await self.session.execute(sa.select(users).order_by(users.c.email))
        return [_user(r) for r in rows]

    async def update(self, user_id: UUID, now: datetime, **values: Any) -> User:
        row = (
            await self.session.execute(
                sa.update(users)
                .where(users.c.id == user_id)
                .values(**values, updated_at=now, version=users.c.version + 1)
                .returning(*users.c)
            )
        ).first()
        return _user(row)

    async def count_enabled_admins(self) -> int:
        return (
            await self.session.execute(
                sa.select(sa.func.count())
                .select_from(users)
                .where(users.c.role == "admin", users.c.enabled.is_(True))
            )
        ).scalar_one()

    async def lock_admins(self) -> None:
        """Serialize changes that could leave no enabled admin (two admins disabling
        each other at once would otherwise both pass the count)."""
        await self.session.execute(
            sa.select(users.c.id).where(users.c.role == "admin").with_for_update()
        )


def _session(row: Any) -> Session:
    return Session(
        token_hash=row.token_hash,
        user_id=row.user_id,
        csrf_token=row.csrf_token,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        expires_at=row.expires_at,
        ended_at=row.ended_at,
    )


class SessionsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, record: Session, client_address: str | None, user_agent: str | None):
        await self.session.execute(
            sa.insert(sessions).values(
                token_hash=record.token_hash,
                user_id=record.user_id,
                csrf_token=record.csrf_token,
                created_at=record.created_at,
                last_seen_at=record.last_seen_at,
                expires_at=record.expires_at,
                client_address=client_address,
                user_agent=(user_agent or "")[:300],
            )
        )

    async def get(self, token_hash: str) -> Session | None:
        row = (
            await self.session.execute(
                sa.select(sessions).where(sessions.c.token_hash == token_hash)
            )
        ).first()
        return _session(row) if row else None

    async def with_user(self, token_hash: str) -> tuple[datetime, Session, User] | None:
        """The session, its user and the database's time, in one round trip: every page
        asks this first, so it is one query rather than three."""
        row = (
            await self.session.execute(
                sa.select(
                    sa.func.now().label("db_now"),
                    *(c.label(f"s_{c.name}") for c in sessions.c),
                    *(c.label(f"u_{c.name}") for c in users.c if c.name != "password_hash"),
                )
                .select_from(sessions.join(users, users.c.id == sessions.c.user_id))
                .where(sessions.c.token_hash == token_hash)
            )
        ).first()
        if row is None:
            return None
        fields = row._mapping
        session = SimpleNamespace(**{k[2:]: v for k, v in fields.items() if k.startswith("s_")})
        user = SimpleNamespace(**{k[2:]: v for k, v in fields.items() if k.startswith("u_")})
        return row.db_now, _session(session), _user(user)

    async def touch(self, token_hash: str, now: datetime) -> None:
        await self.session.execute(
            sa.update(sessions).where(sessions.c.token_hash == token_hash).values(last_seen_at=now)
        )

    async def end(self, token_hash: str, now: datetime) -> bool:
        result = await self.session.execute(
            sa.update(sessions)
            .where(sessions.c.token_hash == token_hash, sessions.c.ended_at.is_(None))
            .values(ended_at=now)
        )
        return result.rowcount > 0

    async def end_all_of(self, user_id: UUID, now: datetime) -> int:
        result = await self.session.execute(
            sa.update(sessions)
            .where(sessions.c.user_id == user_id, sessions.c.ended_at.is_(None))
            .values(ended_at=now)
        )
        return result.rowcount


class ThrottleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def failures_since(self, keys: list[str], since: datetime) -> dict[str, int]:
        rows = await self.session.execute(
            sa.select(sign_in_failures.c.throttle_key, sa.func.count())
            .where(sign_in_failures.c.throttle_key.in_(keys), sign_in_failures.c.failed_at >= since)
            .group_by(sign_in_failures.c.throttle_key)
        )
        counts = {key: 0 for key in keys}
        counts.update({key: count for key, count in rows})
        return counts

    async def record_failure(self, keys: list[str], now: datetime) -> None:
        await self.session.execute(
            sa.insert(sign_in_failures), [{"throttle_key": k, "failed_at": now} for k in keys]
        )

    async def clear(self, key: str) -> None:
        await self.session.execute(
            sa.delete(sign_in_failures).where(sign_in_failures.c.throttle_key == key)
        )

    async def prune(self, keys: list[str], before: datetime) -> None:
        """Forget these keys' failures older than the window (the table stays small)."""
        await self.session.execute(
            sa.delete(sign_in_failures).where(
                sign_in_failures.c.throttle_key.in_(keys), sign_in_failures.c.failed_at < before
            )
        )
