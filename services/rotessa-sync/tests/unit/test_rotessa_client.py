"""The Rotessa client against the simulator (in process) and against hostile answers."""

from datetime import date

import httpx
import pytest

from folio.rotessa_sync.adapters.rotessa_client import (
    RotessaClient,
    RotessaError,
    RotessaRedirectRefused,
    RotessaUnavailable,
)
from folio.rotessa_sync.domain.model import TransactionStatus
from folio.simulators.rotessa import create_app

TODAY = date(2026, 11, 21)
KEY = "sim-rotessa-key"


class Sleeps(list):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client_on(app, **kwargs) -> RotessaClient:
    kwargs.setdefault("sleep", Sleeps())
    return RotessaClient(
        "http://rotessa.test/v1", kwargs.pop("api_key", KEY),
        transport=httpx.ASGITransport(app=app), **kwargs,
    )  # fmt: skip


def client_with_handler(handler, **kwargs) -> RotessaClient:
    kwargs.setdefault("sleep", Sleeps())
    return RotessaClient(
        "https://sandbox-api.rotessa.com/v1", KEY, transport=httpx.MockTransport(handler), **kwargs
    )


async def test_lists_customers_and_schedules_with_minor_amounts():
    app = create_app(seed=5, today=TODAY)
    async with client_on(app) as client:
        customers = await client.list_customers()
        assert len(customers) == 8
        detail = await client.get_customer(customers[0].id)
    schedules = detail.schedules("CAD")
    assert schedules and schedules[0].customer_name == customers[0].name
    raw = app.state.simulator.schedules[schedules[0].schedule_id]
    assert schedules[0].amount_minor == raw.amount_minor
    assert schedules[0].next_process_date is not None and schedules[0].next_process_date > TODAY


async def test_pages_until_a_short_page_and_converts_amounts_exactly():
    app = create_app(seed=5, today=TODAY, customers=0)
    sim = app.state.simulator
    customer = sim.add_customer(name="Paging Borrower")
    schedule = sim.add_schedule(
        customer_id=customer.id, amount_minor=123_456, process_date=date(2020, 1, 1)
    )
    sim.add_bulk_transactions(
        schedule_id=schedule.id, count=2001, first_date=date(2020, 1, 1), per_day=7
    )
    async with client_on(app) as client:
        pages = [
            page
            async for page in client.iter_transaction_report(
                start_date=date(2020, 1, 1), end_date=TODAY, prefetch=2
            )
        ]
    assert [len(p.rows) for p in pages] == [1000, 1000, 1]
    assert [p.page for p in pages] == [1, 2, 3]
    rows = [r for p in pages for r in p.rows]
    assert len({r.transaction_id for r in rows}) == 2001
    assert {r.amount_minor for r in rows} == {123_456}
    assert rows[0].status is TransactionStatus.APPROVED
    # every "2020-01-3"-style unpadded settlement date parsed to a real date
    assert all(r.settlement_date and r.settlement_date.year == 2020 for r in rows[:50])


async def test_exact_multiple_of_page_size_ends_with_an_empty_page():
    app = create_app(seed=5, today=TODAY, customers=0)
    sim = app.state.simulator
    customer = sim.add_customer(name="Exact")
    schedule = sim.add_schedule(customer_id=customer.id, amount_minor=100, process_date=TODAY)
    sim.add_bulk_transactions(schedule_id=schedule.id, count=1000, first_date=date(2020, 1, 1))
    async with client_on(app) as client:
        pages = [p async for p in client.iter_transaction_report(start_date=date(2020, 1, 1))]
    assert [len(p.rows) for p in pages] == [1000, 0]


async def test_resumes_from_a_given_page():
    app = create_app(seed=5, today=TODAY, customers=0)
    sim = app.state.simulator
    customer = sim.add_customer(name="Resume")
    schedule = sim.add_schedule(customer_id=customer.id, amount_minor=100, process_date=TODAY)
    first, _ = sim.add_bulk_transactions(
        schedule_id=schedule.id, count=1500, first_date=date(2020, 1, 1)
    )
    async with client_on(app) as client:
        pages = [
            p
            async for p in client.iter_transaction_report(start_date=date(2020, 1, 1), first_page=2)
        ]
    assert len(pages) == 1 and pages[0].page == 2
    assert pages[0].rows[0].transaction_id == first + 1000


async def test_survives_503_and_429_with_bounded_backoff():
    app = create_app(seed=5, today=TODAY)
    app.state.faults.configure(
        type(app.state.faults.plan)(fail_next=3, fail_status=503, retry_after=1)
    )
    sleeps = Sleeps()
    async with client_on(app, sleep=sleeps, max_attempts=5) as client:
        customers = await client.list_customers()
    assert len(customers) == 8
    assert sleeps == [1.0, 1.0, 1.0]  # Retry-After honoured
    assert app.state.request_counts["customers"] == 4


async def test_gives_up_after_max_attempts_with_growing_backoff():
    app = create_app(seed=5, today=TODAY)
    app.state.faults.configure(type(app.state.faults.plan)(fail_next=100, fail_status=429))
    sleeps = Sleeps()
    async with client_on(
        app, sleep=sleeps, max_attempts=4, backoff_initial_seconds=0.1, backoff_max_seconds=0.3
    ) as client:
        with pytest.raises(RotessaUnavailable):
            await client.list_customers()
    assert app.state.request_counts["customers"] == 4
    assert len(sleeps) == 3
    assert 0.05 <= sleeps[0] <= 0.1 and all(s <= 0.3 for s in sleeps)


async def test_client_errors_are_not_retried_and_carry_the_envelope():
    app = create_app(seed=5, today=TODAY)
    async with client_on(app, api_key="wrong-key") as client:
        with pytest.raises(RotessaError) as caught:
            await client.list_customers()
    assert caught.value.status == 401
    assert caught.value.errors[0]["error_code"] == "unauthorized"
    assert app.state.request_counts["customers"] == 1


async def test_sends_the_token_header_and_asks_for_json():
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["auth"] = request.headers["authorization"]
        seen["accept"] = request.headers["accept"]
        seen["query"] = dict(request.url.params)
        return httpx.Response(200, json=[])

    async with client_with_handler(handler) as client:
        page = await client.transaction_report_page(
            start_date=date(2019, 3, 1), end_date=date(2019, 3, 31), page=3
        )
    assert seen["auth"] == f'Token token="{KEY}"'
    assert seen["accept"] == "application/json"
    assert seen["query"] == {
        "start_date": "2019-03-01",
        "end_date": "2019-03-31",
        "status": "All",
        "page": "3",
    }
    assert page.rows == [] and page.is_last


async def test_refuses_redirect_to_another_host_but_follows_same_host():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        if request.url.path == "/v1/customers":
            return httpx.Response(301, headers={"Location": "/v1/customers/"})
        if request.url.path == "/v1/customers/":
            return httpx.Response(200, json=[])
        return httpx.Response(302, headers={"Location": "https://evil.example/steal"})

    async with client_with_handler(handler) as client:
        assert await client.list_customers() == []
        with pytest.raises(RotessaRedirectRefused):
            await client.get_customer(1)
    assert not any("evil.example" in url for url in calls)


async def test_timeouts_and_transport_errors_are_retried():
    attempts = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        if len(attempts) < 3:
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(200, json=[])

    async with client_with_handler(handler, max_attempts=3) as client:
        assert await client.list_customers() == []
    assert len(attempts) == 3


async def test_invalid_rows_are_reported_not_dropped_or_fatal():
    good = {
        "id": 1, "amount": "100.10", "process_date": "2019-03-7", "status": "Approved",
        "settlement_date": "2019-03-9", "transaction_schedule_id": 9, "customer_id": 4,
    }  # fmt: skip
    rows = [
        good,
        {**good, "id": 2, "amount": 100.1},  # float amount
        {**good, "id": 3, "status": "Lost"},
        {**good, "id": 4, "process_date": "07/03/2019"},
        {**good, "id": 5, "amount": "1.005"},  # more decimals than CAD has
        {**good, "id": 6, "status": "chargeback", "status_reason": "NSF"},
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=rows)

    async with client_with_handler(handler) as client:
        page = await client.transaction_report_page(start_date=date(2019, 1, 1))
    assert [r.transaction_id for r in page.rows] == [1, 6]
    assert page.rows[0].amount_minor == 10010
    assert page.rows[0].process_date == date(2019, 3, 7)
    assert page.rows[0].settlement_date == date(2019, 3, 9)
    assert page.rows[1].status is TransactionStatus.CHARGEBACK
    assert [bad.transaction_id for bad in page.invalid] == [2, 3, 4, 5]
    assert page.raw_count == 6


async def test_non_json_or_wrong_shape_is_an_error():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"response": []})

    async with client_with_handler(handler) as client:
        with pytest.raises(RotessaError):
            await client.list_customers()
