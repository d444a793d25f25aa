"""Every console page and action needs a live session: nothing else is open."""

import pytest
from fastapi.routing import APIRoute

from folio.console.entrypoints.auth import _safe_next
from folio.console.settings import ConsoleSettings
from folio.console.testing import console_client
from folio.shared.auth import TokenSigner

PRODUCTION_KEYS = TokenSigner.generate("prod-1").public_keys_json()

pytestmark = pytest.mark.integration

#: Open without a session: the sign-in form, the root redirect, the ops routes.
PUBLIC = {"/", "/sign-in", "/static/vendor/htmx.min.js"}


def page_routes(app) -> list[tuple[str, set[str]]]:
    """(path, methods) of every route, through included routers (FastAPI includes them
    lazily, as objects of their own)."""
    found = []

    def walk(routes, prefix: str) -> None:
        for route in routes:
            if isinstance(route, APIRoute):
                found.append((prefix + route.path, set(route.methods)))
            elif hasattr(route, "original_router"):
                walk(route.original_router.routes, prefix + route.include_context.prefix)

    walk(app.routes, "")
    return found


def concrete(path: str) -> str:
    return path.replace("{entry_id}", "e-1").replace(
        "{user_id}", "00000000-0000-0000-0000-000000000001"
    )


async def test_every_page_and_action_without_a_session_is_refused(console_app):
    routes = [
        (path, methods) for path, methods in page_routes(console_app)
        if path not in PUBLIC and not path.startswith("/api/console")
    ]  # fmt: skip
    assert len(routes) >= 9
    async with console_client(console_app) as client:
        for path, methods in routes:
            for method in methods - {"HEAD"}:
                response = await client.request(method, concrete(path))
                if method == "GET":
                    assert response.status_code == 303, path
                    assert response.headers["location"].startswith("/sign-in?next="), path
                else:
                    assert response.status_code == 401, (method, path)


def test_sign_in_only_redirects_to_a_path_of_the_console():
    assert _safe_next("/admin/payments?status=DUE") == "/admin/payments?status=DUE"
    for hostile in ("https://evil.example/", "//evil.example/x", "/\\\\evil.example", "", None):
        assert _safe_next(hostile) == "/admin/payments"


def test_the_session_cookie_is_secure_outside_local_development():
    production = ConsoleSettings(environment="production", jwt_public_keys=PRODUCTION_KEYS)
    assert production.cookie_secure is True
    assert ConsoleSettings(environment="local").cookie_secure is False
    assert ConsoleSettings(environment="production", jwt_public_keys=PRODUCTION_KEYS,
                           cookie_secure=False).cookie_secure is False  # fmt: skip
