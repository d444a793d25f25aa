"""Property: whatever a client posts to the Formance API (valid or not: times near the
calendar's edges with offsets, amounts near and past bigint, sums past it, odd assets
and addresses), the journal stays readable. The sealer, ``verify`` and every read
route never answer 500, what was acknowledged is stored and what was refused is not,
and the invariant checker stays green."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from folio.ledger.service.journal import seal_pending

from .conftest import unique
from .own_ledger import own_ledger

MAX = 2**63 - 1

EDGE_TIMES = [
    "9999-12-31T23:59:59-12:00",
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59.999999Z",
    "0001-01-01T00:00:00Z",
    "0001-01-01T05:00:00+05:00",
    "9999-12-31T12:00:00-11:59",
    "9999-12-31T23:59:59+00:00",
    "2024-02-29T12:00:00+14:00",
]

offsets = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
times = st.one_of(
    st.sampled_from(EDGE_TIMES),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(1, 1, 3), timezones=offsets).map(
        datetime.isoformat
    ),
    st.datetimes(
        min_value=datetime(9999, 12, 29),
        max_value=datetime(9999, 12, 31, 23, 59, 59),
        timezones=offsets,
    ).map(datetime.isoformat),
    st.datetimes(timezones=offsets).map(datetime.isoformat),
)
small_amounts = st.integers(min_value=0, max_value=10**6)
amounts = st.one_of(
    small_amounts,
    small_amounts,
    st.sampled_from([MAX, MAX - 1, MAX + 1, 2**62, 2**64, -1]),
    st.integers(min_value=2**61, max_value=MAX),
)
valid_addresses = st.one_of(
    st.sampled_from(["users:1", "users:2", "platform:fees", "a:b:c", "x_y-z"]),
    st.from_regex(r"\A[a-z0-9_-]{1,8}(:[a-z0-9_-]{1,8}){0,2}\Z"),
)
odd_addresses = st.sampled_from(["", ":", "users:", "bad address", "é", "a" * 600, "users::1"])
# mostly valid, so that most transactions get far enough to be stored or overflow
addresses = st.one_of(valid_addresses, valid_addresses, valid_addresses, odd_addresses)
# world and rotessa:clearing may overdraw (the app's default policy)
sources = st.one_of(st.just("world"), st.just("world"), st.just("rotessa:clearing"), addresses)
assets = st.one_of(
    st.sampled_from(["USD/2", "SAR/2", "COIN", "EUR_X/6"]),
    st.sampled_from(["USD/2", "SAR/2"]),
    st.sampled_from(["usd", "USD/1234567", "A" * 18, ""]),
)
postings = st.fixed_dictionaries(
    {"source": sources, "destination": addresses, "amount": amounts, "asset": assets}
)
# postings that fit bigint one by one but sum past it (per transaction or across them)
big_postings = st.fixed_dictionaries(
    {
        "source": st.sampled_from(["world", "rotessa:clearing"]),
        "destination": st.sampled_from(["users:1", "users:2"]),
        "amount": st.sampled_from([MAX, MAX - 1, 2**62, 2**62 + 1, 1]),
        "asset": st.just("USD/2"),
    }
)
transactions = st.one_of(
    *[
        st.fixed_dictionaries(
            {"postings": st.lists(postings, min_size=1, max_size=3)},
            # no "force": a forced overdraft shows in the invariant checker on purpose
            optional={"timestamp": times},
        )
    ]
    * 4,
    st.fixed_dictionaries({"postings": st.lists(big_postings, min_size=1, max_size=3)}),
    st.fixed_dictionaries({"postings": st.just([])}),
)


@pytest.fixture(scope="module")
async def own(infra, ledger_settings):
    async with own_ledger(infra, ledger_settings) as own:
        yield own


def not_500(response) -> None:
    assert response.status_code < 500, (response.request.url, response.text)


@settings(
    # bounded and derandomised: a few seconds, the same examples on every run
    max_examples=60,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    batch=st.lists(transactions, min_size=1, max_size=5), query_times=st.lists(times, max_size=3)
)
async def test_posted_anything_the_journal_stays_readable(own, admin, batch, query_times):
    client = own.client
    ledger = unique("prop")
    base = f"/api/ledger/v2/{ledger}"
    assert (await client.post(base, headers=admin)).status_code == 204
    accepted: list[int] = []
    for body in batch:
        response = await client.post(
            f"{base}/transactions", json={"metadata": {}, **body}, headers=admin
        )
        not_500(response)
        if response.status_code == 200:
            accepted.append(response.json()["data"]["id"])
        else:
            event(f"refused: {response.json()['errorCode']}")
            assert response.json()["errorCode"] in {
                "VALIDATION",
                "INSUFFICIENT_FUND",
                "NO_POSTINGS",
            }, response.text

    event(f"accepted {min(len(accepted), 2)}+ of {len(batch)}")
    async with own.uow_factory() as uow:  # what the background sealer runs
        while await seal_pending(uow):
            pass
        await uow.commit()
    verify = await client.post("/api/ledger/journal/verify", headers=admin)
    not_500(verify)
    assert verify.json()["intact"] is True, verify.text
    invariants = await client.get(
        "/api/ledger/journal/invariants", params={"ledger": ledger}, headers=admin
    )
    assert invariants.json() == {"ok": True, "problems": []}

    # every acknowledged transaction is stored, nothing refused is
    listed = await client.get(f"{base}/transactions", params={"pageSize": 1000}, headers=admin)
    assert sorted(t["id"] for t in listed.json()["cursor"]["data"]) == sorted(accepted)
    for tx_id in accepted:
        got = await client.get(f"{base}/transactions/{tx_id}", headers=admin)
        assert got.status_code == 200, got.text

    # cursors as handed out
    page = await client.get(f"{base}/transactions", params={"pageSize": 1}, headers=admin)
    while page.json()["cursor"].get("next"):
        page = await client.get(
            f"{base}/transactions", params={"cursor": page.json()["cursor"]["next"]}, headers=admin
        )
        assert page.status_code == 200, page.text
    accounts = await client.get(
        f"{base}/accounts", params={"pageSize": 2, "expand": "volumes"}, headers=admin
    )
    assert accounts.status_code == 200, accounts.text
    addresses = [a["address"] for a in accounts.json()["cursor"]["data"]]
    if accounts.json()["cursor"].get("next"):
        more = await client.get(
            f"{base}/accounts", params={"cursor": accounts.json()["cursor"]["next"]}, headers=admin
        )
        assert more.status_code == 200, more.text
        addresses += [a["address"] for a in more.json()["cursor"]["data"]]
    for url in (f"{base}/aggregate/balances", f"{base}/volumes"):
        response = await client.get(url, headers=admin)
        assert response.status_code == 200, response.text

    # point-in-time reads at any time a client may send: 200, or 400 when out of range
    for moment in query_times:
        requests = [
            (f"{base}/transactions", {"pit": moment}),
            (f"{base}/transactions", {"startTime": moment, "endTime": moment}),
            (f"{base}/aggregate/balances", {"pit": moment}),
            (f"{base}/volumes", {"startTime": moment}),
            (f"{base}/volumes", {"endTime": moment, "insertionDate": "true"}),
            *((f"{base}/accounts/{address}", {"pit": moment}) for address in addresses[:2]),
        ]
        for url, params in requests:
            response = await client.get(url, params=params, headers=admin)
            not_500(response)
            if response.status_code != 200:
                assert response.json()["errorCode"] == "VALIDATION", response.text
                in_range = _utc_year(moment)
                assert in_range is None, (moment, response.text)


def _utc_year(moment: str) -> int | None:
    """The UTC year of an RFC 3339 time, None if outside Python's years."""
    try:
        return datetime.fromisoformat(moment.replace("Z", "+00:00")).astimezone(UTC).year
    except OverflowError:
        return None
