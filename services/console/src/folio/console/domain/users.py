"""Console users and what each role may do. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID


class Role(StrEnum):
    """The services' roles (shared.auth): the console adds no role of its own."""

    ADMIN = "admin"
    FINANCE = "finance"
    VIEWER = "viewer"


#: Roles whose holders may change money state (the services' WRITE_ROLES).
WRITE_ROLES = frozenset({Role.ADMIN, Role.FINANCE})

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256  # argon2 hashes anything; a bound keeps a request cheap
_EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,63}$")


class UserError(Exception):
    """A refused user change; ``kind`` is its problem type."""

    kind = "invalid-user"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidEmail(UserError):
    kind = "invalid-email"


class WeakPassword(UserError):
    kind = "weak-password"


class EmailTaken(UserError):
    kind = "email-taken"


class UserNotFound(UserError):
    kind = "not-found"


class LastAdmin(UserError):
    kind = "last-admin"


def normalize_email(raw: str) -> str:
    email = raw.strip().lower()
    if not _EMAIL_RE.match(email):
        raise InvalidEmail("not a valid e-mail address")
    return email


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"a password has at most {MAX_PASSWORD_LENGTH} characters")


@dataclass(frozen=True)
class User:
    id: UUID
    email: str
    display_name: str
    role: Role
    enabled: bool
    created_at: datetime
    updated_at: datetime
    version: int

    @property
    def can_write(self) -> bool:
        return self.role in WRITE_ROLES

    @property
    def can_manage_users(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def service_roles(self) -> list[str]:
        return [self.role.value]
