"""The dead-letter redrive route bounds its id to the bigint column (issue 12): a larger
one is a 422 problem, not a database error."""

import httpx
import pytest
from fastapi import FastAPI

from folio.shared.app import install_problem_handlers
from folio.shared.auth import local_dev_signer, mint_token
from folio.shared.dead_letters import dead_letter_router
from folio.shared.settings import ServiceSettings


class _NoRows:
    def one_or_none(self):
        return None


class _Session:
    async def execute(self, _statement):
        return _NoRows()


class _UnitOfWork:
    session = _Session()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *_):
        return False


@pytest.fixture
async def client():
    settings = ServiceSettings(service_name="demo", environment="test", run_messaging=False)
    app = FastAPI()
    app.state.settings = settings
    install_problem_handlers(app)
    app.include_router(dead_letter_router("/api/demo", lambda: _UnitOfWork()))
    token = mint_token("alice", ["admin"], local_dev_signer())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://t",
        headers={"Authorization": f"Bearer {token}"},
    ) as http:
        yield http


@pytest.mark.parametrize("ident", [str(2**70), str(2**63), "0", "-1"])
async def test_a_redrive_id_outside_the_bigint_column_is_422(client, ident):
    response = await client.post(f"/api/demo/admin/dead-letters/{ident}/redrive")
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_the_largest_id_reaches_the_route(client):
    response = await client.post(f"/api/demo/admin/dead-letters/{2**63 - 1}/redrive")
    assert response.status_code == 404
