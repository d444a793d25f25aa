"""Response models of the routes every service mounts (operations, dead letters), and
the check that an OpenAPI document types every 2xx answer (each service's tests run it).

An untyped answer (``{}`` or a bare ``object``) makes the fuzzer's response-schema
check vacuous and tells a client nothing; these models are what the routes answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, str] = Field(
        description="Per dependency (database, broker): `ok`, `unreachable` or `error: <kind>`"
    )


class AsyncApiDocument(BaseModel):
    """An AsyncAPI document (its channels and messages are the events' contracts)."""

    model_config = ConfigDict(extra="allow")

    asyncapi: str
    info: dict[str, Any]


class DeadLetter(BaseModel):
    id: int
    consumer: str
    topic: str
    partition: int
    offset: int
    event_id: str | None
    event_type: str | None
    error: str
    attempts: int
    created_at: datetime
    redriven_at: datetime | None
    redrive_count: int
    value: str = Field(description="The message's bytes as text (undecodable bytes replaced)")


class DeadLetterList(BaseModel):
    data: list[DeadLetter]


class Redriven(BaseModel):
    id: int
    topic: str
    redrive_count: int


def _is_typed(schema: dict[str, Any], media_type: str) -> bool:
    if not media_type.endswith("json"):
        return bool(schema.get("type"))  # e.g. text/plain: a string
    if "$ref" in schema:
        return True
    if schema.get("type") == "array":
        return "$ref" in schema.get("items", {})
    return False


def untyped_2xx(spec: dict[str, Any], tags: Iterable[str] | None = None) -> list[str]:
    """Every 2xx answer (204 aside) of ``spec`` whose content is not a named model (a
    ``$ref``, or an array of one); only operations with one of ``tags`` if given."""
    wanted = set(tags) if tags is not None else None
    return list(_untyped(spec, wanted))


def _untyped(spec: dict[str, Any], wanted: set[str] | None) -> Iterator[str]:
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if wanted is not None and not wanted & set(operation.get("tags", [])):
                continue
            for status, answer in operation.get("responses", {}).items():
                if not status.startswith("2") or status == "204":
                    continue
                content = answer.get("content") or {}
                if not content:
                    yield f"{method.upper()} {path} {status}: no content"
                for media_type, body in content.items():
                    if not _is_typed(body.get("schema") or {}, media_type):
                        yield f"{method.upper()} {path} {status} {media_type}: {body.get('schema')}"
