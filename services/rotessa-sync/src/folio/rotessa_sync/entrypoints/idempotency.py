"""``Idempotency-Key`` on the money-changing admin routes (link, backfill start/retry).

Same key and same request → the first answer again, with ``Idempotency-Hit: true``
and no second effect; same key and another request → 409. The key's row is
inserted first in the unit of work that has the effect (a concurrent duplicate
waits on the primary key, then finds the committed answer), and its answer is
stored before that unit of work commits. A request that fails keeps nothing: the
key can be used again. Keys are scoped by caller and route.
"""

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse

from folio.shared.problems import Problem, conflict
from folio.shared.transactions import retry_transient

MAX_KEY_LENGTH = 255

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description=(
            "Optional, at most 255 characters. A retried request with the same key and"
            " the same body gets the first answer again (header `Idempotency-Hit: true`)"
            " without a second effect; the same key with another body answers 409"
            " `idempotency-key-reused`. Scoped to the caller and the route."
        ),
    ),
]


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict[str, Any]
    hit: bool

    def response(self) -> JSONResponse:
        headers = {"Idempotency-Hit": "true"} if self.hit else None
        return JSONResponse(self.body, status_code=self.status_code, headers=headers)


def checked_key(key: str | None) -> str | None:
    if key is not None and not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise Problem(
            400,
            "idempotency-key-invalid",
            "Bad request",
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters",
        )
    return key


def request_hash(method: str, path: str, body: dict[str, Any] | None) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def run_once(
    uow_factory: Callable[[], Any],
    *,
    key: str | None,
    scope: str,
    fingerprint: str,
    status_code: int,
    effect: Callable[[Any], Awaitable[dict[str, Any]]],
) -> Answer:
    """Run ``effect(uow)`` in one unit of work and commit, at most once per key; a
    deadlock or serialization failure reruns the whole unit (``retry_transient``)."""

    async def work() -> Answer:
        async with uow_factory() as uow:
            if key is not None and not await uow.repo.claim_idempotency_key(
                scope, key, fingerprint
            ):
                stored = await uow.repo.idempotency_answer(scope, key)
                if stored is None or stored.status_code is None:  # cannot be: same commit
                    raise conflict("idempotency-key-in-progress", "retry the request later")
                if stored.request_hash != fingerprint:
                    raise conflict(
                        "idempotency-key-reused",
                        "this Idempotency-Key was used with another request",
                    )
                body = stored.response
                if isinstance(body, str):
                    body = json.loads(body)
                return Answer(stored.status_code, body, hit=True)
            body = await effect(uow)
            if key is not None:
                await uow.repo.complete_idempotency_key(scope, key, status_code, body)
            await uow.commit()
            return Answer(status_code, body, hit=False)

    return await retry_transient(work)
