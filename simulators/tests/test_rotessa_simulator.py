"""The Rotessa simulator speaks Rotessa's wire format and its faults are reproducible."""

from datetime import date

import httpx
import pytest

from folio.simulators.rotessa import create_app

TODAY = date(2026, 11, 21)
AUTH = {"Authorization": 'Token token="sim-rotessa-key"'}


def client_for(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://rotessa.test", headers=AUTH
    )


@pytest.fixture
def app():
    return create_app(seed=7, today=TODAY)


async def test_same_seed_serves_identical_data_and_another_seed_differs():
    pages = []
    for seed in (11, 11, 12):
        async with client_for(create_app(seed=seed, today=TODAY)) as client:
            report = await client.get("/v1/transaction_report", params={"start_date": "2000-01-01"})
            customers = await client.get("/v1/customers")
            pages.append((report.content, customers.content))
    assert pages[0] == pages[1]
    assert pages[0] != pages[2]


async def test_customers_and_customer_detail_have_rotessa_fields(app):
    async with client_for(app) as client:
        customers = (await client.get("/v1/customers")).json()
        assert isinstance(customers, list) and len(customers) == 8
        expected = {
            "id", "active", "bank_name", "created_at", "custom_identifier", "customer_type",
            "email", "home_phone", "identifier", "name", "phone", "updated_at",
        }  # fmt: skip
        assert expected <= set(customers[0])
        detail = (await client.get(f"/v1/customers/{customers[0]['id']}")).json()
    assert {"address", "transaction_schedules", "financial_transactions"} <= set(detail)
    schedule = detail["transaction_schedules"][0]
    assert isinstance(schedule["amount"], str) and "." in schedule["amount"]
    assert schedule["frequency"] in {
        "Once", "Weekly", "Every Other Week", "Monthly", "Every Other Month",
        "Quarterly", "Semi-Annually", "Yearly",
    }  # fmt: skip
    assert schedule["next_process_date"] > TODAY.isoformat()


async def test_report_has_every_status_and_unpadded_dates():
    app = create_app(seed=3, today=TODAY, customers=30)
    async with client_for(app) as client:
        rows = (
            await client.get("/v1/transaction_report", params={"start_date": "2000-01-01"})
        ).json()
    statuses = {row["status"] for row in rows}
    assert statuses == {"Future", "Pending", "Approved", "Declined", "Chargeback"}
    assert all(row["status_reason"] for row in rows if row["status"] in ("Declined", "Chargeback"))
    unpadded = [
        r["settlement_date"]
        for r in rows
        if r["settlement_date"] and len(r["settlement_date"]) == 9
    ]
    assert unpadded, "some settlement dates must be unpadded, like Rotessa's 2019-03-7"
    keys = [(r["process_date"], r["id"]) for r in rows]
    assert keys == sorted(keys)


async def test_report_pages_by_1000_and_filters_dates_and_status(app):
    sim = app.state.simulator
    customer = sim.add_customer(name="Bulk Borrower")
    schedule = sim.add_schedule(
        customer_id=customer.id, amount_minor=150_000, process_date=date(2001, 1, 1)
    )
    sim.add_bulk_transactions(
        schedule_id=schedule.id, count=2500, first_date=date(2001, 1, 1), per_day=10
    )
    async with client_for(app) as client:
        params = {"start_date": "2001-01-01", "end_date": "2001-12-31"}
        sizes = []
        seen = set()
        for page in (1, 2, 3, 4):
            rows = (
                await client.get("/v1/transaction_report", params={**params, "page": page})
            ).json()
            sizes.append(len(rows))
            seen.update(r["id"] for r in rows)
        assert sizes == [1000, 1000, 500, 0]
        assert len(seen) == 2500
        declined = (
            await client.get("/v1/transaction_report", params={**params, "status": "Declined"})
        ).json()
        assert declined == []
        window = (
            await client.get(
                "/v1/transaction_report",
                params={"start_date": "2001-01-02", "end_date": "2001-1-3"},
            )
        ).json()
        assert {r["process_date"] for r in window} == {"2001-01-02", "2001-01-03"}
        assert len(window) == 20


async def test_report_accepts_params_as_json_body_on_get(app):
    async with client_for(app) as client:
        by_query = await client.get("/v1/transaction_report", params={"start_date": "2000-01-01"})
        by_body = await client.request(
            "GET", "/v1/transaction_report", json={"start_date": "2000-01-01", "page": 1}
        )
    assert by_body.status_code == 200
    assert by_body.json() == by_query.json()


@pytest.mark.parametrize(
    ("headers", "params", "status", "code"),
    [
        (
            {"Authorization": 'Token token="wrong"'},
            {"start_date": "2020-01-01"},
            401,
            "unauthorized",
        ),
        ({"Authorization": ""}, {"start_date": "2020-01-01"}, 401, "unauthorized"),
        ({"Accept": "text/xml"}, {"start_date": "2020-01-01"}, 406, "not_acceptable"),
        ({}, {}, 400, "bad_request"),
        ({}, {"start_date": "yesterday"}, 400, "bad_request"),
        ({}, {"start_date": "2020-01-01", "status": "Lost"}, 400, "bad_request"),
    ],
)
async def test_errors_use_rotessa_envelope(app, headers, params, status, code):
    async with client_for(app) as client:
        response = await client.get("/v1/transaction_report", params=params, headers=headers)
    assert response.status_code == status
    body = response.json()
    assert body["errors"][0]["error_code"] == code
    assert body["errors"][0]["error_message"]


async def test_unknown_customer_is_404_envelope(app):
    async with client_for(app) as client:
        response = await client.get("/v1/customers/999999")
    assert response.status_code == 404
    assert response.json()["errors"][0]["error_code"] == "not_found"


async def test_tests_can_add_transactions_and_charge_one_back(app):
    sim = app.state.simulator
    schedule_id = next(iter(sim.schedules))
    async with client_for(app) as client:
        added = await client.post(
            "/_sim/transactions",
            json={"schedule_id": schedule_id, "process_date": "2026-11-02", "status": "Approved"},
        )
        assert added.status_code == 201
        tid = added.json()["id"]
        charged = await client.patch(f"/_sim/transactions/{tid}", json={"status": "Chargeback"})
        assert charged.status_code == 200
        assert charged.json()["status"] == "Chargeback"
        assert charged.json()["status_reason"] == "NSF"
        rows = (
            await client.get(
                "/v1/transaction_report",
                params={
                    "start_date": "2026-11-02",
                    "end_date": "2026-11-02",
                    "status": "Chargeback",
                },
            )
        ).json()
        assert [r["id"] for r in rows] == [tid]
        # Rotessa's lifecycle: a chargeback cannot be approved again.
        back = await client.patch(f"/_sim/transactions/{tid}", json={"status": "Approved"})
        assert back.status_code == 422
        assert back.json()["errors"][0]["error_code"] == "invalid_transition"


async def test_fault_modes_fail_next_every_nth_and_retry_after(app):
    async with client_for(app) as client:
        await client.put(
            "/_sim/faults", json={"fail_next": 2, "fail_status": 503, "retry_after": 1}
        )
        codes = [(await client.get("/v1/customers")).status_code for _ in range(3)]
        assert codes == [503, 503, 200]
        await client.put(
            "/_sim/faults", json={"every_nth": 3, "every_status": 429, "retry_after": 2}
        )
        responses = [await client.get("/v1/customers") for _ in range(6)]
        assert [r.status_code for r in responses] == [200, 200, 429, 200, 200, 429]
        assert responses[2].headers["Retry-After"] == "2"
        assert responses[2].json()["errors"][0]["error_code"] == "rate_limited"
        await client.delete("/_sim/faults")
        assert (await client.get("/v1/customers")).status_code == 200


async def test_faults_can_target_one_endpoint_and_slow_pages(app):
    async with client_for(app) as client:
        await client.put(
            "/_sim/faults",
            json={"fail_next": 5, "endpoints": ["transaction_report"], "delay_seconds": 0.05},
        )
        assert (await client.get("/v1/customers")).status_code == 200
        report = await client.get("/v1/transaction_report", params={"start_date": "2020-01-01"})
        assert report.status_code == 503
        state = (await client.get("/_sim/state")).json()
    assert state["requests"]["transaction_report"] == 1


async def test_bulk_customer_via_control_api(app):
    async with client_for(app) as client:
        created = await client.post(
            "/_sim/customers",
            json={
                "name": "Bench Borrower",
                "amount": "1250.00",
                "process_date": "2010-01-01",
                "bulk_count": 1200,
                "bulk_per_day": 100,
            },
        )
        assert created.status_code == 201
        ids = created.json()
        rows = (
            await client.get(
                "/v1/transaction_report",
                params={"start_date": "2010-01-01", "end_date": "2010-01-12", "page": 2},
            )
        ).json()
    assert len(rows) == 200
    assert {r["transaction_schedule_id"] for r in rows} == {ids["schedule_id"]}
    assert ids["last_transaction_id"] - ids["first_transaction_id"] == 1199
    assert {r["amount"] for r in rows} == {"1250.00"}


async def test_control_api_rejects_unknown_fields(app):
    async with client_for(app) as client:
        response = await client.post(
            "/_sim/transactions",
            json={"schedule_id": 1, "process_date": "2026-01-01", "surprise": True},
        )
    assert response.status_code == 422


async def test_transaction_schedule_endpoint(app):
    sim = app.state.simulator
    schedule_id = next(iter(sim.schedules))
    async with client_for(app) as client:
        found = await client.get(f"/v1/transaction_schedules/{schedule_id}")
        missing = await client.get("/v1/transaction_schedules/1")
    assert found.status_code == 200
    body = found.json()
    assert body["id"] == schedule_id and body["frequency"] == sim.schedules[schedule_id].frequency
    assert {t["transaction_schedule_id"] for t in body["financial_transactions"]} == {schedule_id}
    assert missing.status_code == 404 and missing.json()["errors"][0]["error_code"] == "not_found"
