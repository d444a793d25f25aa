"""``Idempotency-Key`` for admin writes: one effect per key, the first answer replayed.

A service that uses it creates this table in its own schema (the ledger: migration
0007)::

    CREATE TABLE admin_idempotency_keys (
        scope text NOT NULL,            -- the route, e.g. "POST /entries/{entry_id}/refunds"
        key text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
        request_hash text NOT NULL,     -- what the key was first used for
        status_code integer,            -- the answer, written before commit
        response jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (scope, key)
    )

and, inside the unit of work that makes the effect, calls ``claim`` first and
``remember`` last. ``claim`` inserts the key before any other statement: a
concurrent request with the same key waits on that row until the first commits
(then it reads the stored answer) or rolls back (then it claims the key itself).
The primary key, not a read before the write, is what allows exactly one effect.
A request that fails rolls back with its claim, so a refused request does not use
its key up: its retry is judged afresh.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from folio.shared.problems import Problem

HEADER = "Idempotency-Key"
HIT_HEADER = "Idempotency-Hit"
MAX_KEY_LENGTH = 255
TABLE = "admin_idempotency_keys"
_KEY_RE = re.compile(rf"[\x20-\x7e]{{1,{MAX_KEY_LENGTH}}}")

DESCRIPTION = (
    "Optional; makes a retried request safe. The first request with a key is carried "
    "out and its answer kept; the same key with the same request (route, path, body "
    "and caller) answers that first status and body again, with `Idempotency-Hit: true`, "
    "and changes nothing. The same key with a different request answers 409 "
    "`urn:folio:problem:idempotency-key-reused`. Concurrent requests with one key have "
    "one effect. A refused request (4xx) keeps nothing, so its key can be retried. "
    f"1 to {MAX_KEY_LENGTH} printable ASCII characters, else 400 "
    "`urn:folio:problem:invalid-idempotency-key`."
)

#: The route parameter that documents the header in OpenAPI (validated by ``request_for``,
#: so a bad key answers 400 problem+json rather than a generic 422).
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=HEADER,
        description=DESCRIPTION,
        json_schema_extra={"maxLength": MAX_KEY_LENGTH, "minLength": 1},
    ),
]


@dataclass(frozen=True)
class IdempotentRequest:
    scope: str
    key: str
    request_hash: str


@dataclass(frozen=True)
class Replay:
    """The stored answer of the request that first used the key."""

    status_code: int
    body: Any

    def response(self) -> JSONResponse:
        return JSONResponse(self.body, status_code=self.status_code, headers={HIT_HEADER: "true"})


def request_hash(fingerprint: Any) -> str:
    """A stable digest of what identifies a request (JSON-able; key order irrelevant)."""
    canonical = json.dumps(fingerprint, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def request_for(key: str | None, scope: str, fingerprint: Any) -> IdempotentRequest | None:
    """None without a key; 400 for a key that is empty, too long or not printable ASCII."""
    if key is None:
        return None
    if not _KEY_RE.fullmatch(key):
        raise Problem(
            400,
            "invalid-idempotency-key",
            "Bad request",
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
        )
    return IdempotentRequest(scope, key, request_hash(fingerprint))


async def claim(
    session: AsyncSession, request: IdempotentRequest, *, table: str = TABLE
) -> Replay | None:
    """Claim the key in the current transaction (call before any other write).

    None: the key is this request's; make the effect, then ``remember`` the answer.
    A ``Replay``: the key was used by a committed request with the same fingerprint.
    Raises 409 ``idempotency-key-reused`` when it was used for a different request.
    """
    claimed = await session.execute(
        text(
            f"INSERT INTO {table} (scope, key, request_hash) VALUES (:scope, :key, :hash) "
            "ON CONFLICT (scope, key) DO NOTHING RETURNING 1"
        ),
        {"scope": request.scope, "key": request.key, "hash": request.request_hash},
    )
    if claimed.first() is not None:
        return None
    # ON CONFLICT waited for the holder to commit; this new statement (read committed)
    # sees its row, answer included.
    stored = (
        await session.execute(
            text(
                f"SELECT request_hash, status_code, response FROM {table} "
                "WHERE scope = :scope AND key = :key"
            ),
            {"scope": request.scope, "key": request.key},
        )
    ).first()
    if stored is None or stored.status_code is None:  # pragma: no cover - needs repeatable read
        raise Problem(
            409, "idempotency-key-in-use", "Conflict", f"{HEADER} is in use by another request"
        )
    if stored.request_hash != request.request_hash:
        raise Problem(
            409,
            "idempotency-key-reused",
            "Conflict",
            f"{HEADER} was already used with a different request",
        )
    response = (
        stored.response if not isinstance(stored.response, str) else json.loads(stored.response)
    )
    return Replay(stored.status_code, response)


async def remember(
    session: AsyncSession,
    request: IdempotentRequest,
    status_code: int,
    body: Any,
    *,
    table: str = TABLE,
) -> None:
    """Store the answer on the claimed key, in the effect's transaction."""
    await session.execute(
        text(
            f"UPDATE {table} SET status_code = :status, response = CAST(:response AS jsonb) "
            "WHERE scope = :scope AND key = :key"
        ),
        {
            "scope": request.scope,
            "key": request.key,
            "status": status_code,
            "response": json.dumps(body),
        },
    )
