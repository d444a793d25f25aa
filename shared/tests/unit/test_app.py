"""The service app factory: operations routes, problem+json, 413, auth, AsyncAPI."""

import json

import httpx
import pytest
from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict

from folio.shared.app import Runtime, create_service_app
from folio.shared.auth import (
    Principal,
    TokenSigner,
    local_dev_signer,
    mint_token,
    require_roles,
)
from folio.shared.problems import Problem
from folio.shared.settings import ServiceSettings


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str


def make_app(**overrides):
    settings = ServiceSettings(
        service_name="demo", environment="test", run_messaging=False, max_body_bytes=64,
        database_url="postgresql://nobody@127.0.0.1:1/none", **overrides,
    )
    router = APIRouter(prefix="/api/demo")

    @router.post("/things")
    async def create(thing: Thing, who: Principal = Depends(require_roles("admin"))):
        if thing.name == "taken":
            raise Problem(409, "thing-exists", "Conflict", "that name is taken")
        return {"name": thing.name, "by": who.subject}

    app = create_service_app(
        runtime=Runtime.create(settings), title="Demo", routers=[router],
        publishes=["payment.verified"],
    )
    return app, settings


@pytest.fixture
async def client():
    app, settings = make_app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        c.settings = settings
        yield c


def bearer(settings, roles):
    return {"Authorization": f"Bearer {mint_token('alice', roles, local_dev_signer())}"}


async def test_healthz_and_metrics(client):
    assert (await client.get("/api/demo/healthz")).json() == {"status": "ok"}
    await client.get("/api/demo/healthz")
    metrics = (await client.get("/api/demo/metrics")).text
    assert 'folio_http_requests_total{method="GET",route="/api/demo/healthz"' in metrics


async def test_readyz_reports_an_unreachable_database_as_503(client):
    answer = await client.get("/api/demo/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"]["database"].startswith("error")


async def test_asyncapi_lists_what_the_service_publishes(client):
    spec = (await client.get("/api/demo/asyncapi.json")).json()
    assert any("payment.verified" in name for name in spec["channels"])


async def test_anonymous_weak_role_and_forged_tokens_are_refused(client):
    body = {"name": "x"}
    anonymous = await client.post("/api/demo/things", json=body)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    weak = await client.post("/api/demo/things", json=body, headers=bearer(client.settings, ["viewer"]))
    assert weak.status_code == 403
    # signed by a key the service does not know, even under the known key id
    impostor = TokenSigner.generate(local_dev_signer().key_id)
    forged = {"Authorization": "Bearer " + mint_token("eve", ["admin"], impostor)}
    assert (await client.post("/api/demo/things", json=body, headers=forged)).status_code == 401
    ok = await client.post("/api/demo/things", json=body, headers=bearer(client.settings, ["admin"]))
    assert ok.status_code == 200 and ok.json() == {"name": "x", "by": "alice"}


async def test_unknown_fields_and_conflicts_are_problems(client):
    admin = bearer(client.settings, ["admin"])
    extra = await client.post("/api/demo/things", json={"name": "x", "status": "PAID"}, headers=admin)
    assert extra.status_code == 422
    assert extra.json()["type"] == "urn:folio:problem:validation-error"
    taken = await client.post("/api/demo/things", json={"name": "taken"}, headers=admin)
    assert taken.status_code == 409
    assert taken.json() == {
        "type": "urn:folio:problem:thing-exists", "title": "Conflict", "status": 409,
        "detail": "that name is taken", "instance": "/api/demo/things",
    }


async def test_oversized_bodies_get_413_before_auth_or_parsing(client):
    big = b'{"name": "' + b"x" * 100 + b'"}'
    answer = await client.post("/api/demo/things", content=big)  # no token, still 413 first
    assert answer.status_code == 413
    assert answer.json()["type"] == "urn:folio:problem:payload-too-large"


async def test_oversized_streamed_bodies_get_413_too(client):
    async def chunks():
        for _ in range(10):
            yield b"x" * 20

    answer = await client.post("/api/demo/things", content=chunks())
    assert answer.status_code == 413


async def test_correlation_id_is_echoed_or_made(client):
    given = "6f1c1b2e-7d0a-4c3e-9b1a-2f3e4d5c6b7a"
    answer = await client.get("/api/demo/healthz", headers={"X-Correlation-ID": given})
    assert answer.headers["x-correlation-id"] == given
    made = await client.get("/api/demo/healthz")
    assert len(made.headers["x-correlation-id"]) == 36


def test_production_refuses_missing_or_local_token_keys():
    with pytest.raises(ValueError):
        ServiceSettings(environment="production")
    with pytest.raises(ValueError):
        ServiceSettings(environment="production",
                        jwt_public_keys=local_dev_signer().public_keys_json())
    renamed_local = json.dumps({"prod-1": local_dev_signer().public_pem()})
    with pytest.raises(ValueError):
        ServiceSettings(environment="production", jwt_public_keys=renamed_local)
    real = TokenSigner.generate("prod-1").public_keys_json()
    assert ServiceSettings(environment="production", jwt_public_keys=real).token_verifier
