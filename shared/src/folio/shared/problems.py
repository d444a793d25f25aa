"""RFC 9457 problem+json errors with stable ``type`` identifiers."""

from typing import Any

PROBLEM_MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    """Raise from a route or handler to answer ``application/problem+json``.

    ``kind`` is a stable slug; the body's ``type`` is ``urn:folio:problem:<kind>``.
    """

    def __init__(
        self,
        status: int,
        kind: str,
        title: str,
        detail: str | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.kind = kind
        self.title = title
        self.detail = detail
        self.extra = extra

    def to_body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"urn:folio:problem:{self.kind}",
            "title": self.title,
            "status": self.status,
        }
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


def not_found(what: str, ident: object) -> Problem:
    return Problem(404, "not-found", f"{what} not found", f"no {what} with id {ident}")


def conflict(kind: str, detail: str, **extra: Any) -> Problem:
    return Problem(409, kind, "Conflict", detail, **extra)


def forbidden(detail: str, kind: str = "forbidden") -> Problem:
    return Problem(403, kind, "Forbidden", detail)


def unprocessable(detail: str, kind: str = "validation-error", **extra: Any) -> Problem:
    return Problem(422, kind, "Unprocessable request", detail, **extra)
