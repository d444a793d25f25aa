"""JWT bearer authentication with roles; deny by default.

Roles: ``admin`` may do everything; ``finance`` may change money state
(entries, adjustments, links, backfills, redrives); ``viewer`` may read.
A route names the roles it accepts with :func:`require_roles`.
"""

import hashlib
import json
import os
import secrets
import time
import uuid
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated

import jwt
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from folio.shared.problems import Problem

log = structlog.get_logger(__name__)

ROLES = ("admin", "finance", "viewer")
READ_ROLES = ("admin", "finance", "viewer")
WRITE_ROLES = ("admin", "finance")

_bearer = HTTPBearer(auto_error=False, description="Folio admin JWT (EdDSA, `kid` header)")

ALGORITHM = "EdDSA"

#: The key id of the local development key pair (refused in production).
LOCAL_DEV_KEY_ID = "folio-local-dev"


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[str]


class TokenSigner:
    """Holds the private key: only the token issuers (the console, ``make token``) have
    one. Services hold only public keys (``TokenVerifier``), so a compromised service
    cannot mint an admin token."""

    def __init__(self, private_key: Ed25519PrivateKey, key_id: str) -> None:
        self._private_key = private_key
        self.key_id = key_id

    @classmethod
    def from_pem(cls, pem: str, key_id: str) -> "TokenSigner":
        # an environment variable may carry the PEM's newlines escaped
        key = serialization.load_pem_private_key(pem.replace("\\n", "\n").encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the token signing key must be an Ed25519 private key")
        return cls(key, key_id)

    @classmethod
    def generate(cls, key_id: str) -> "TokenSigner":
        return cls(Ed25519PrivateKey.generate(), key_id)

    def private_pem(self) -> str:
        return self._private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    def public_pem(self) -> str:
        return public_pem(self._private_key.public_key())

    def public_keys_json(self) -> str:
        """The ``FOLIO_JWT_PUBLIC_KEYS`` value that verifies this signer's tokens."""
        return json.dumps({self.key_id: self.public_pem()})

    def sign(self, claims: dict) -> str:
        return jwt.encode(
            claims, self._private_key, algorithm=ALGORITHM, headers={"kid": self.key_id}
        )


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def local_dev_signer() -> TokenSigner:
    """The published local-development key pair (deterministic, so every local process
    and test agrees on it without setup); services refuse it in production."""
    seed = hashlib.sha256(b"folio-local-development-only-token-key-do-not-use").digest()
    return TokenSigner(Ed25519PrivateKey.from_private_bytes(seed), LOCAL_DEV_KEY_ID)


def signer_from_environment() -> TokenSigner:
    """The issuer's signer: ``FOLIO_JWT_PRIVATE_KEY`` (PEM) and ``FOLIO_JWT_KEY_ID``, or
    the local development pair outside production."""
    pem = os.environ.get("FOLIO_JWT_PRIVATE_KEY")
    if pem:
        return TokenSigner.from_pem(pem, os.environ.get("FOLIO_JWT_KEY_ID", "folio-1"))
    if os.environ.get("FOLIO_ENV") == "production":
        raise RuntimeError("FOLIO_JWT_PRIVATE_KEY must be set when FOLIO_ENV=production")
    return local_dev_signer()


def mint_token(
    subject: str,
    roles: list[str],
    signer: TokenSigner,
    *,
    issuer: str = "folio",
    ttl_seconds: int = 3600,
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
    return signer.sign(claims)


class TokenVerifier:
    """Public keys by ``kid``: two may be active at once while a key is rotated."""

    def __init__(self, public_keys: dict[str, Ed25519PublicKey]) -> None:
        if not public_keys:
            raise ValueError("at least one token public key is needed")
        self.public_keys = public_keys

    @classmethod
    def from_json(cls, document: str) -> "TokenVerifier":
        """``{"<kid>": "<PEM of an Ed25519 public key>", ...}``"""
        keys: dict[str, Ed25519PublicKey] = {}
        for kid, pem in json.loads(document).items():
            key = serialization.load_pem_public_key(pem.encode())
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError(f"token key {kid!r} is not an Ed25519 public key")
            keys[kid] = key
        return cls(keys)

    @cached_property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self.public_keys)


#: A clock difference tolerated between the token issuer and a service.
CLOCK_LEEWAY_SECONDS = 30


def _unauthenticated(reason: str) -> Problem:
    # The reason is logged, never told: a client learns only that its token was refused.
    log.info("auth.token_refused", reason=reason)
    return Problem(401, "unauthenticated", "Unauthenticated", "invalid or expired token")


def decode_token(
    token: str,
    verifier: TokenVerifier,
    *,
    issuer: str = "folio",
    max_lifetime_seconds: int = 12 * 3600,
) -> Principal:
    """The principal of a valid token: an EdDSA signature by a known ``kid``, issuer,
    ``exp``/``iat`` present, and a lifetime no longer than ``max_lifetime_seconds``."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise _unauthenticated(repr(exc)) from None
    key = verifier.public_keys.get(header.get("kid")) if isinstance(header, dict) else None
    if key is None or header.get("alg") != ALGORITHM:
        raise _unauthenticated(f"unknown key id or algorithm in {header!r}")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
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
            settings.token_verifier,
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
