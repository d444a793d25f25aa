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
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from folio.shared.problems import Problem

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


def decode_token(token: str, secret: str, *, issuer: str = "folio") -> Principal:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            issuer=issuer,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
    except jwt.PyJWTError as exc:
        raise Problem(401, "unauthenticated", "Unauthenticated", f"invalid token: {exc}") from None
    roles = claims.get("roles")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise Problem(401, "unauthenticated", "Unauthenticated", "token has no roles claim")
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
