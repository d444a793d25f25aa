"""The routes every service mounts answer typed 2xx (a named model per answer), and
the contract check itself notices an untyped answer."""

import httpx
from fastapi import APIRouter, FastAPI

from folio.shared.app import Runtime, create_service_app
from folio.shared.auth import local_dev_signer, mint_token
from folio.shared.dead_letters import dead_letter_router
from folio.shared.responses import AsyncApiDocument, Readiness, untyped_2xx
from folio.shared.settings import ServiceSettings


def _ops_app() -> FastAPI:
    settings = ServiceSettings(
        service_name="demo", environment="test", run_messaging=False,
        database_url="postgresql://nobody@127.0.0.1:1/none",
    )  # fmt: skip
    return create_service_app(
        runtime=Runtime.create(settings),
        title="Demo",
        routers=[dead_letter_router("/api/demo", lambda: None)],
        publishes=["payment.verified"],
    )


def test_operations_and_dead_letter_routes_are_typed():
    spec = _ops_app().openapi()
    assert untyped_2xx(spec) == []
    dead_letters = spec["paths"]["/api/demo/admin/dead-letters"]["get"]["responses"]["200"]
    assert dead_letters["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/DeadLetterList"
    }
    readiness = spec["paths"]["/api/demo/readyz"]["get"]["responses"]
    assert readiness["503"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Readiness"
    }
    assert "text/plain" in spec["paths"]["/api/demo/metrics"]["get"]["responses"]["200"]["content"]


async def test_the_operations_answers_are_what_their_models_say():
    token = mint_token("alice", ["admin"], local_dev_signer())
    transport = httpx.ASGITransport(app=_ops_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        ready = await client.get("/api/demo/readyz")  # no database: 503, same model
        assert ready.status_code == 503
        Readiness.model_validate(ready.json())
        spec = await client.get(
            "/api/demo/asyncapi.json", headers={"Authorization": f"Bearer {token}"}
        )
        AsyncApiDocument.model_validate(spec.json())


def test_an_untyped_answer_is_reported():
    app = FastAPI()
    router = APIRouter()

    @router.get("/loose", tags=["x"])
    async def loose() -> dict:
        return {}

    @router.get("/empty", tags=["y"])
    async def empty():
        return {}

    app.include_router(router)
    found = untyped_2xx(app.openapi())
    assert len(found) == 2 and any("/loose" in f for f in found)
    assert untyped_2xx(app.openapi(), tags=["y"]) == ["GET /empty 200 application/json: {}"]
