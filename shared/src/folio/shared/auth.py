"""JWT bearer authentication with roles; deny by default.

Roles: ``admin`` may do everything; ``finance`` may change money state
(entries, adjustments, links, backfills, redrives); ``viewer`` may read.
A route names the roles it accepts with :func:`require_roles`.
"""

import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Annotated

import jwt
import structlog
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from folio.shared.problems import Problem

log = structlog.get_logger(__name__)

ROLES = ("admin", "finance", "viewer")
READ_ROLES = ("admin", "finance", "viewer")
WRITE_ROLES = ("admin", "finance")

_bearer = HTTPBearer(auto_error=False, description="Folio admin JWT (HS256)")


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[str]


def mint_token(
    subject: str, roles: list[str], secret: str, *, issuer: str = "folio", ttl_seconds: int = 3600
) -> str:
    now = int(time.time())
    claims = {
        "sub": subject,
        "roles": roles,
        "iss": issuer,
        "iat": now,
        "exp": now + ttl_seconds,
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, secret, algorithm="HS256")


#: A clock difference tolerated between the token issuer and a service.
CLOCK_LEEWAY_SECONDS = 30


def _unauthenticated(reason: str) -> Problem:
    # The reason is logged, never told: a client learns only that its token was refused.
    log.info("auth.token_refused", reason=reason)
    return Problem(401, "unauthenticated", "Unauthenticated", "invalid or expired token")


def decode_token(
    token: str, secret: str, *, issuer: str = "folio", max_lifetime_seconds: int = 12 * 3600
) -> Principal:
    """The principal of a valid token: signature, issuer, ``exp``/``iat`` present, not
    issued in the future, and a lifetime no longer than ``max_lifetime_seconds``."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            issuer=issuer,
            leeway=CLOCK_LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
    except jwt.PyJWTError as exc:
        raise _unauthenticated(repr(exc)) from None
    issued, expires = claims["iat"], claims["exp"]
    if not all(isinstance(t, int) and not isinstance(t, bool) for t in (issued, expires)):
        raise _unauthenticated("non-integer iat/exp")
    if expires - issued > max_lifetime_seconds:
        raise _unauthenticated(f"lifetime {expires - issued}s above {max_lifetime_seconds}s")
    roles = claims.get("roles")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise _unauthenticated("no roles claim")
    return Principal(subject=str(claims["sub"]), roles=frozenset(roles))


def require_roles(*accepted: str):
    """A dependency admitting a bearer whose roles intersect ``accepted``."""
    accepted_set = frozenset(accepted)

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise Problem(401, "unauthenticated", "Unauthenticated", "a bearer token is required")
        settings = request.app.state.settings
        principal = decode_token(
            credentials.credentials,
            settings.jwt_secret.get_secret_value(),
            issuer=settings.jwt_issuer,
            max_lifetime_seconds=settings.jwt_max_lifetime_seconds,
        )
        if not principal.roles & accepted_set:
            raise Problem(
                403, "forbidden", "Forbidden", f"requires one of the roles {sorted(accepted_set)}"
            )
        return principal

    return dependency


def constant_time_equals(a: str | bytes, b: str | bytes) -> bool:
    if isinstance(a, str):
        a = a.encode()
    if isinstance(b, str):
        b = b.encode()
    return secrets.compare_digest(a, b)
