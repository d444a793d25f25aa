"""Sign-in, sessions and user management, each in one unit of work.

Every change to a user is audited in the append-only ``audit_log`` (actor, what
changed), in the same transaction as the change.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

import sqlalchemy as sa

from folio.console.adapters import passwords
from folio.console.adapters.uow import ConsoleUnitOfWork
from folio.console.domain import throttle as throttling
from folio.console.domain.sessions import Session, SessionPolicy
from folio.console.domain.throttle import Refuse, ThrottlePolicy
from folio.console.domain.users import (
    EmailTaken,
    LastAdmin,
    Role,
    User,
    UserNotFound,
    check_password,
    normalize_email,
)
from folio.shared.db import audit_log
from folio.shared.transactions import retry_transient

UowFactory = Callable[[], ConsoleUnitOfWork]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SignInRefused(Exception):
    """Wrong e-mail, wrong password or a disabled user: one answer for all three."""


class SignInThrottled(Exception):
    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__("too many failed sign-ins")
        self.retry_after_seconds = retry_after_seconds


@dataclass(frozen=True)
class SignedIn:
    user: User
    session: Session
    #: The cookie's value; only its hash is stored.
    token: str


async def sign_in(
    uow_factory: UowFactory,
    policy: SessionPolicy,
    throttle: ThrottlePolicy,
    email: str,
    password: str,
    client_address: str,
    user_agent: str | None,
) -> SignedIn:
    normalized = email.strip().lower()[:254]
    keys = [throttling.email_key(normalized), throttling.address_key(client_address)]

    async with uow_factory() as uow:
        now = await uow.now()
        counts = await uow.throttle.failures_since(
            keys, now - timedelta(seconds=throttle.window_seconds)
        )
    decision = throttle.decide(counts[keys[0]], counts[keys[1]])
    if isinstance(decision, Refuse):
        raise SignInThrottled(decision.retry_after_seconds)
    if decision.delay_seconds:
        # Slows a guesser down; the delay is the same whatever was wrong.
        await asyncio.sleep(decision.delay_seconds)

    async with uow_factory() as uow:
        found = await uow.users.credentials(normalized)
    user, stored_hash = found if found else (None, None)
    # An unknown e-mail still verifies (against a dummy hash): the same work, the same time.
    valid = await passwords.verify_password(stored_hash, password)
    if not valid or user is None or not user.enabled:

        async def record() -> None:
            async with uow_factory() as uow:
                now = await uow.now()
                await uow.throttle.prune(keys, now - timedelta(seconds=throttle.window_seconds))
                await uow.throttle.record_failure(keys, now)
                await uow.audit(
                    normalized or "-",
                    "sign-in.failed",
                    "user",
                    str(user.id) if user else normalized or "-",
                    {"client_address": client_address},
                )
                await uow.commit()

        await retry_transient(record)
        raise SignInRefused()

    rehash = (
        await passwords.hash_password(password) if passwords.needs_rehash(stored_hash) else None
    )
    token = secrets.token_urlsafe(32)

    async def open_session() -> Session:
        async with uow_factory() as uow:
            now = await uow.now()
            record = Session(
                token_hash=hash_token(token),
                user_id=user.id,
                csrf_token=secrets.token_urlsafe(32),
                created_at=now,
                last_seen_at=now,
                expires_at=policy.expires_at(now),
                ended_at=None,
            )
            await uow.sessions.add(record, client_address, user_agent)
            await uow.throttle.clear(keys[0])
            if rehash:
                await uow.users.update(user.id, now, password_hash=rehash)
            await uow.audit(
                user.email, "sign-in", "user", str(user.id), {"client_address": client_address}
            )
            await uow.commit()
            return record

    session = await retry_transient(open_session)
    return SignedIn(user=user, session=session, token=token)


async def current(
    uow_factory: UowFactory, policy: SessionPolicy, token: str, *, touch: bool = True
) -> tuple[User, Session] | None:
    """The live session of a cookie and its (enabled) user, or None. ``touch=False``
    for requests a page makes by itself (a status poll): they are not the user's
    activity and must not keep an idle session alive."""
    token_hash = hash_token(token)
    async with uow_factory() as uow:
        now = await uow.now()
        session = await uow.sessions.get(token_hash)
        if session is None or not policy.is_live(session, now):
            return None
        user = await uow.users.get(session.user_id)
        if user is None or not user.enabled:
            return None
        if touch and policy.needs_touch(session, now):
            await uow.sessions.touch(token_hash, now)
            await uow.commit()
        return user, session


async def sign_out(uow_factory: UowFactory, user: User, session: Session) -> None:
    async def work() -> None:
        async with uow_factory() as uow:
            now = await uow.now()
            if await uow.sessions.end(session.token_hash, now):
                await uow.audit(user.email, "sign-out", "user", str(user.id))
            await uow.commit()

    await retry_transient(work)


async def create_user(
    uow_factory: UowFactory,
    actor: str,
    email: str,
    password: str,
    role: Role,
    display_name: str = "",
) -> User:
    email = normalize_email(email)
    check_password(password)
    password_hash = await passwords.hash_password(password)

    async def work() -> User:
        async with uow_factory() as uow:
            now = await uow.now()
            user = User(
                id=uuid.uuid4(),
                email=email,
                display_name=display_name.strip()[:200],
                role=role,
                enabled=True,
                created_at=now,
                updated_at=now,
                version=1,
            )
            if not await uow.users.add(user, password_hash):
                raise EmailTaken(f"a user {email} exists already")
            await uow.audit(
                actor, "user.created", "user", str(user.id), {"email": email, "role": role.value}
            )
            await uow.commit()
            return user

    return await retry_transient(work)


async def update_user(
    uow_factory: UowFactory,
    actor: str,
    user_id: UUID,
    *,
    role: Role | None = None,
    enabled: bool | None = None,
    password: str | None = None,
) -> User:
    """Change a user's role, enabled flag or password. Disabling or demoting the last
    enabled admin is refused. A disabled user's, or a new password's, sessions end."""
    if password is not None:
        check_password(password)
    password_hash = await passwords.hash_password(password) if password is not None else None

    async def work() -> User:
        async with uow_factory() as uow:
            now = await uow.now()
            await uow.users.lock_admins()
            before = await uow.users.get(user_id, for_update=True)
            if before is None:
                raise UserNotFound(f"no user {user_id}")
            values: dict = {}
            changes: dict = {}
            if role is not None and role is not before.role:
                values["role"], changes["role"] = role.value, [before.role.value, role.value]
            if enabled is not None and enabled != before.enabled:
                values["enabled"], changes["enabled"] = enabled, [before.enabled, enabled]
            if password_hash is not None:
                values["password_hash"], changes["password"] = password_hash, "reset"
            if not values:
                return before
            after = await uow.users.update(user_id, now, **values)
            if (
                before.role is Role.ADMIN
                and before.enabled
                and not (after.role is Role.ADMIN and after.enabled)
            ):
                if await uow.users.count_enabled_admins() == 0:
                    raise LastAdmin("the last enabled admin cannot be disabled or demoted")
            if ("enabled" in changes and not after.enabled) or "password" in changes:
                changes["sessions_ended"] = await uow.sessions.end_all_of(user_id, now)
            await uow.audit(actor, "user.updated", "user", str(user_id), changes)
            await uow.commit()
            return after

    return await retry_transient(work)


async def list_users(uow_factory: UowFactory) -> list[User]:
    async with uow_factory() as uow:
        return await uow.users.list()


async def user_audit(uow_factory: UowFactory, limit: int = 50) -> list[dict]:
    """The latest user changes and sign-ins, newest first."""
    async with uow_factory() as uow:
        rows = await uow.session.execute(
            sa.select(audit_log)
            .where(audit_log.c.subject_type == "user")
            .order_by(audit_log.c.id.desc())
            .limit(limit)
        )
        return [dict(r._mapping) for r in rows]
