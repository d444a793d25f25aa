"""The HTTP edge every service shares: a 500 that keeps the connection, security
headers, no caching of authenticated answers, bounded token lifetimes with a generic
401, docs from local assets, and the ops routes guarded in production."""

import http.client
import socket
import threading
import time

import httpx
import jwt
import pytest
import uvicorn
from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from folio.shared.app import Runtime, create_service_app
from folio.shared.auth import Principal, TokenSigner, local_dev_signer, mint_token, require_roles
from folio.shared.settings import ServiceSettings


def make_app(**overrides):
    settings = ServiceSettings(
        service_name="demo", run_messaging=False,
        database_url="postgresql://nobody@127.0.0.1:1/none",
        **{"environment": "test", **overrides},
    )
    router = APIRouter(prefix="/api/demo")

    @router.get("/boom")
    async def boom():
        raise RuntimeError("a defect")

    @router.get("/page")
    async def page():
        return HTMLResponse("<p>hi</p>", headers={"Content-Security-Policy": "default-src 'self'"})

    @router.get("/me")
    async def me(who: Principal = Depends(require_roles("viewer", "admin"))):
        return {"subject": who.subject}

    return create_service_app(runtime=Runtime.create(settings), title="Demo", routers=[router])


def token(roles=("admin",), **claims):
    now = int(time.time())
    body = {"sub": "alice", "roles": list(roles), "iss": "folio", "iat": now, "exp": now + 600}
    body.update(claims)
    return local_dev_signer().sign(body)


@pytest.fixture
async def client():
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


@pytest.fixture(scope="module")
def served():
    """The app under a real uvicorn, to see what happens to the connection."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(make_app(), host="127.0.0.1", port=port, log_level="critical",
                       lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield port
    server.should_exit = True
    thread.join(10)


def test_an_unexpected_error_is_a_problem_500_and_the_connection_stays_open(served):
    conn = http.client.HTTPConnection("127.0.0.1", served, timeout=5)
    conn.request("GET", "/api/demo/boom")
    failed = conn.getresponse()
    body = failed.read()
    assert failed.status == 500
    assert failed.getheader("content-type") == "application/problem+json"
    assert b"urn:folio:problem:internal-error" in body and b"a defect" not in body
    assert (failed.getheader("connection") or "").lower() != "close"
    first_socket = conn.sock
    conn.request("GET", "/api/demo/healthz")  # the same keep-alive connection
    again = conn.getresponse()
    assert again.status == 200 and again.read() == b'{"status":"ok"}'
    assert conn.sock is first_socket
    conn.close()


def test_security_headers_also_over_a_real_connection(served):
    conn = http.client.HTTPConnection("127.0.0.1", served, timeout=5)
    conn.request("GET", "/api/demo/healthz")
    response = conn.getresponse()
    response.read()
    assert response.getheader("x-content-type-options") == "nosniff"
    conn.close()


async def test_security_headers_on_every_answer(client):
    for path in ("/api/demo/healthz", "/api/demo/nothing-here", "/api/demo/boom"):
        response = await client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert "server" not in response.headers


async def test_a_page_keeps_its_own_content_security_policy_and_gets_the_rest(client):
    response = await client.get("/api/demo/page")
    assert response.headers.get_list("content-security-policy") == ["default-src 'self'"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_authenticated_answers_are_not_cached_anonymous_ones_may_be(client):
    mine = await client.get("/api/demo/me", headers={"Authorization": f"Bearer {token()}"})
    assert mine.status_code == 200 and mine.headers["cache-control"] == "no-store"
    refused = await client.get("/api/demo/me", headers={"Authorization": "Bearer nonsense"})
    assert refused.status_code == 401 and refused.headers["cache-control"] == "no-store"
    assert "cache-control" not in (await client.get("/api/demo/healthz")).headers


async def test_a_token_living_longer_than_the_maximum_is_refused(client):
    now = int(time.time())
    ten_years = token(iat=now, exp=now + 10 * 365 * 86400)
    refused = await client.get("/api/demo/me", headers={"Authorization": f"Bearer {ten_years}"})
    assert refused.status_code == 401
    twelve_hours = mint_token("alice", ["viewer"], local_dev_signer(), ttl_seconds=12 * 3600)
    accepted = await client.get("/api/demo/me", headers={"Authorization": f"Bearer {twelve_hours}"})
    assert accepted.status_code == 200


@pytest.mark.parametrize(
    "bad",
    [
        token(exp=int(time.time()) - 3600),  # expired
        TokenSigner.generate("folio-local-dev").sign(
            {"sub": "a", "roles": ["admin"], "iss": "folio", "iat": 1, "exp": 2**40}
        ),  # an unknown key under a known key id
        jwt.encode({"sub": "a", "roles": ["admin"], "iss": "folio", "iat": 1, "exp": 2**40},
                   "a-shared-secret-that-anyone-could-hold-000", algorithm="HS256",
                   headers={"kid": "folio-local-dev"}),  # symmetric: refused outright
        token(iss="someone-else"),
        "not.a.jwt",
    ],
)
async def test_a_refused_token_gets_one_generic_detail(client, bad):
    refused = await client.get("/api/demo/me", headers={"Authorization": f"Bearer {bad}"})
    assert refused.status_code == 401
    assert refused.json()["detail"] == "invalid or expired token"


async def test_docs_come_from_local_assets_with_no_inline_script(client):
    page = await client.get("/api/demo/docs")
    assert page.status_code == 200
    assert "<script>" not in page.text and "//" not in page.text.replace("</", "")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for asset in ("/api/demo/docs/assets/swagger-ui-bundle.js", "/api/demo/docs/assets/swagger-ui.css",
                  "/api/demo/docs/start.js"):
        got = await client.get(asset)
        assert got.status_code == 200 and len(got.content) > 20, asset
    assert (await client.get("/api/demo/openapi.json")).json()["info"]["title"] == "Demo"


async def test_in_production_ops_routes_need_a_reading_token():
    signer = TokenSigner.generate("prod-1")
    app = make_app(environment="production", jwt_public_keys=signer.public_keys_json())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        for path in ("/metrics", "/openapi.json", "/asyncapi.json", "/docs"):
            assert (await c.get(f"/api/demo{path}")).status_code == 401, path
        auth = {"Authorization": f"Bearer {mint_token('ops', ['viewer'], signer)}"}
        for path in ("/metrics", "/openapi.json", "/docs"):
            assert (await c.get(f"/api/demo{path}", headers=auth)).status_code == 200, path
        assert (await c.get("/api/demo/healthz")).status_code == 200


async def test_every_operation_documents_the_problem_answers(client):
    spec = (await client.get("/api/demo/openapi.json")).json()
    assert spec["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status"]
    me = spec["paths"]["/api/demo/me"]["get"]["responses"]
    for status in ("401", "403", "404", "409", "413", "422", "500", "503"):
        assert "application/problem+json" in me[status]["content"], status
    healthz = spec["paths"]["/api/demo/healthz"]["get"]["responses"]
    assert "401" not in healthz and "500" in healthz


@pytest.mark.parametrize(
    "path",
    ["/api/demo/me?name=a%00b", "/api/demo/me?x=%0A", "/api/demo/me%00", "/api/demo/me?x=%7F"],
)
async def test_nul_or_control_characters_in_path_or_query_are_a_400(client, path):
    refused = await client.get(path, headers={"Authorization": f"Bearer {token()}"})
    assert refused.status_code == 400
    assert refused.json()["type"] == "urn:folio:problem:control-characters"


async def test_ordinary_unicode_in_a_query_passes(client):
    fine = await client.get("/api/demo/me?name=%C3%A9t%C3%A9+ok",
                            headers={"Authorization": f"Bearer {token()}"})
    assert fine.status_code == 200


def test_an_issuer_key_from_the_environment_may_carry_escaped_newlines(monkeypatch):
    from folio.shared.auth import TokenVerifier, decode_token, signer_from_environment

    signer = TokenSigner.generate("prod-7")
    monkeypatch.setenv("FOLIO_JWT_PRIVATE_KEY", signer.private_pem().replace("\n", "\\n"))
    monkeypatch.setenv("FOLIO_JWT_KEY_ID", "prod-7")
    issued = mint_token("ops", ["viewer"], signer_from_environment())
    verifier = TokenVerifier.from_json(signer.public_keys_json())
    assert decode_token(issued, verifier).subject == "ops"


def test_two_keys_verify_during_a_rotation():
    import json as _json

    from folio.shared.auth import TokenVerifier, decode_token

    old, new = TokenSigner.generate("k-old"), TokenSigner.generate("k-new")
    both = TokenVerifier.from_json(
        _json.dumps({"k-old": old.public_pem(), "k-new": new.public_pem()})
    )
    for signer in (old, new):
        assert decode_token(mint_token("a", ["admin"], signer), both).subject == "a"
