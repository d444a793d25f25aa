"""The registry's search: free text, sorting with keyset pagination, totals in SQL, and
an index for every query shape (migration 0010)."""

import base64
import json
import re

from sqlalchemy import text

from folio.ledger.adapters.entries_repository import SORT_KEYS, list_sql, totals_sql

from .conftest import unique
from .test_admin_api import create, set_status
from .test_payment_events import consumer, record, verified


async def walk(client, admin, **params):
    """Every page of a listing (page size 2), the entry ids in order, and the pages."""
    seen, cursor, pages = [], None, 0
    while True:
        query = {**params, "page_size": 2, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/api/ledger/entries", params=query, headers=admin)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [e["entry_id"] for e in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if not page["has_more"]:
            assert cursor is None
            return seen, pages


async def test_sorting_pages_through_ties_and_missing_values_in_a_stable_order(client, admin):
    building = unique("bld")
    amounts = [300, 100, 300, 200, 100, 300, 100]
    dues = ["2026-03-01", None, "2026-01-01", "2026-03-01", None, "2026-02-01", "2026-03-01"]
    units = ["u-b", None, "u-a", "u-b", "u-a", None, "u-b"]
    created = [
        await create(client, admin, building_id=building, amount_minor=a, due_date=d, unit_id=u)
        for a, d, u in zip(amounts, dues, units, strict=True)
    ]
    ids = [e["entry_id"] for e in created]
    position = {entry_id: i for i, entry_id in enumerate(ids)}  # creation order = seq order

    def expected(field, descending=False, missing="~"):
        def key(e):
            value = e[field] if e[field] is not None else missing  # missing sorts last
            return (value, position[e["entry_id"]])

        return [e["entry_id"] for e in sorted(created, key=key, reverse=descending)]

    for field, missing in (("amount_minor", 0), ("due_date", "9999-12-31"), ("unit_id", "~")):
        for order in ("asc", "desc"):
            seen, pages = await walk(client, admin, building_id=building, sort=field, order=order)
            assert seen == expected(field, order == "desc", missing), (field, order)
            assert pages == 4
    # ascending: ties in creation order, missing due dates last; descending: the reverse
    by_due = expected("due_date", missing="9999-12-31")
    assert by_due[-2:] == [ids[1], ids[4]]
    assert (await walk(client, admin, building_id=building, order="desc"))[0] == ids[::-1]
    # a page boundary inside a run of ties loses and repeats nothing
    assert sorted((await walk(client, admin, building_id=building, sort="amount_minor"))[0]) == (
        sorted(ids)
    )


async def test_totals_are_the_whole_filtered_set_summed_per_currency(
    client, admin, uow_factory, journal_config
):
    building = unique("bld")
    sar = [await create(client, admin, building_id=building, amount_minor=a, due_date="2020-01-01")
           for a in (10_000, 2_500, 777)]  # fmt: skip
    kwd = await create(client, admin, building_id=building, amount_minor=1_234, currency="KWD")
    await set_status(client, admin, sar[2]["entry_id"], "VOID")
    # one paid in full, then partly refunded: its refund counts, not its outstanding
    await consumer(uow_factory, journal_config).process(
        [record(verified(sar[0]["invoice_number"]))]
    )
    refund = await client.post(
        f"/api/ledger/entries/{sar[0]['entry_id']}/refunds",
        json={"amount_minor": 4_000},
        headers=admin,
    )
    assert refund.status_code == 201, refund.text
    # the REFUND child inherits the building: it is in the set, as the listing shows it

    async def totals(**params):
        response = await client.get(
            "/api/ledger/entries/totals", params={"building_id": building, **params}, headers=admin
        )
        assert response.status_code == 200, response.text
        return response.json()

    everything = await totals()
    assert everything == {
        "count": 5,
        "by_currency": [
            {"currency": "KWD", "count": 1, "amount_minor": 1_234, "paid_minor": 0,
             "refunded_minor": 0, "outstanding_minor": 1_234},
            {"currency": "SAR", "count": 4, "amount_minor": 17_277, "paid_minor": 10_000,
             "refunded_minor": 4_000, "outstanding_minor": 2_500},
        ],
    }  # fmt: skip
    # equal to the hand sum of what the listing shows, page after page
    listed, _ = await walk(client, admin, building_id=building)
    rows = [(await client.get(f"/api/ledger/entries/{i}", headers=admin)).json() for i in listed]
    sar_rows = [r for r in rows if r["currency"] == "SAR"]
    assert everything["by_currency"][1]["outstanding_minor"] == sum(
        r["outstanding_minor"] for r in sar_rows
    )
    assert everything["by_currency"][1]["refunded_minor"] == sum(
        r["refunded_minor"] for r in sar_rows
    )
    overdue = await totals(overdue="true")
    assert overdue["count"] == 1 and overdue["by_currency"][0]["outstanding_minor"] == 2_500
    assert await totals(status="PENDING") == {"count": 0, "by_currency": []}
    assert (await totals(entry_type="REFUND"))["by_currency"][0]["amount_minor"] == 4_000
    assert kwd["currency"] == "KWD"


async def test_free_text_is_a_case_blind_prefix_of_the_identifiers_tenant_and_description(
    client, admin
):
    building = unique("Bld")
    tenant = await create(
        client, admin, building_id=building, metadata={"tenant": "Fatima Al-Harbi"}
    )
    booking = await create(client, admin, building_id=building, booking_id="BK-77", unit_id="U-12")
    described = await create(client, admin, building_id=building, description="Parking 50% off")
    other = await create(client, admin, building_id=building, description="Parking_full")

    async def found(q, **params):
        response = await client.get(
            "/api/ledger/entries", params={"building_id": building, "q": q, **params}, headers=admin
        )
        assert response.status_code == 200, response.text
        return [e["entry_id"] for e in response.json()["data"]]

    assert await found("fatima") == [tenant["entry_id"]]
    assert await found("FATIMA AL") == [tenant["entry_id"]]
    assert await found("harbi") == []  # a prefix, not a substring
    assert await found("bk-7") == [booking["entry_id"]]
    assert await found("u-1") == [booking["entry_id"]]
    assert await found(tenant["invoice_number"].lower()) == [tenant["entry_id"]]
    assert await found("parking 50%") == [described["entry_id"]]
    assert await found("parking_") == [other["entry_id"]]  # _ and % are not wildcards
    assert await found("parking%") == []
    assert len(await found(building.upper())) == 4  # the building id itself
    totals = await client.get(
        "/api/ledger/entries/totals", params={"building_id": building, "q": "park"}, headers=admin
    )
    assert totals.json()["count"] == 2
    for bad in ("", "a" * 201, "nul\x00"):
        response = await client.get("/api/ledger/entries", params={"q": bad}, headers=admin)
        # (a NUL anywhere in a query string is refused by the edge already: 400)
        assert response.status_code in (400, 422), bad
        assert response.headers["content-type"].startswith("application/problem+json")


def cursor_of(body) -> str:
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode()


async def test_tampered_and_foreign_cursors_are_refused_with_a_problem(client, admin):
    building = unique("bld")
    for amount in (1, 2, 3):
        await create(client, admin, building_id=building, amount_minor=amount)
    first = await client.get(
        "/api/ledger/entries",
        params={"building_id": building, "sort": "amount_minor", "page_size": 1},
        headers=admin,
    )
    good = first.json()["next_cursor"]
    body = json.loads(base64.urlsafe_b64decode(good))
    assert body == {"after": body["after"], "sort": "amount_minor", "order": "asc", "key": 1}

    async def status_of(cursor, **params):
        response = await client.get(
            "/api/ledger/entries",
            params={"building_id": building, "cursor": cursor, "page_size": 1, **params},
            headers=admin,
        )
        if response.status_code != 200:
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["type"].endswith("invalid-cursor")
        return response.status_code

    assert await status_of(good, sort="amount_minor") == 200
    assert await status_of(good, sort="amount_minor", order="desc") == 422  # another order
    assert await status_of(good) == 422
    assert await status_of(good, sort="due_date") == 422
    tampered = [
        "!!",
        good[:-4],
        cursor_of([1, 2]),
        cursor_of({**body, "key": "1"}),  # text where an amount belongs
        cursor_of({**body, "key": 2**63}),
        cursor_of({**body, "after": -1}),
        cursor_of({**body, "key": None}),
    ]
    for cursor in tampered:
        assert await status_of(cursor, sort="amount_minor") == 422, cursor
    dated = {"after": 1, "sort": "due_date", "order": "asc"}
    for key in ("2026-02-30", "tomorrow", 20260101):
        assert await status_of(cursor_of({**dated, "key": key}), sort="due_date") == 422
    assert await status_of(cursor_of({**dated, "key": "2026-02-28"}), sort="due_date") == 200
    texty = {"after": 1, "sort": "unit_id", "order": "desc"}
    for key in ("a\x00b", "x" * 201, 5, "\ud800"):
        assert (
            await status_of(cursor_of({**texty, "key": key}), sort="unit_id", order="desc") == 422
        )
    assert await status_of(cursor_of({**texty, "key": "u"}), sort="unit_id", order="desc") == 200
    bad_sort = await client.get("/api/ledger/entries", params={"sort": "id; drop"}, headers=admin)
    assert bad_sort.status_code == 422


SORT_INDEXES = {
    "invoice_number": "entries_invoice_number_key", "entry_type": "entries_sort_type",
    "status": "entries_status", "amount_minor": "entries_sort_amount",
    "paid_minor": "entries_sort_paid", "due_date": "entries_sort_due",
    "building_id": "entries_sort_building", "unit_id": "entries_sort_unit",
    "booking_id": "entries_sort_booking",
}  # fmt: skip
#: (query, an index its plan must use)
QUERIES = [
    ({"sort": column, "descending": descending}, SORT_INDEXES[column])
    for column in SORT_KEYS
    for descending in (False, True)
] + [
    ({"sort": "amount_minor", "after_key": 5, "after_seq": 9}, "entries_sort_amount"),
    (
        {"sort": "unit_id", "after_key": "u", "after_seq": 9, "descending": True},
        "entries_sort_unit",
    ),
    ({"sort": "due_date", "after_key": "2026-01-01", "after_seq": 9}, "entries_sort_due"),
    ({"q": "tenant 13"}, "entries_q_tenant"),
    ({"q": "bk-77", "sort": "amount_minor"}, "entries_q_booking"),
    ({"overdue": True}, "entries_overdue"),
    # (index-only once vacuumed; this sample never is)
    ({"building_id": "bld-7"}, ("entries_totals_building", "entries_building")),
    ({"unit_id": "unit-7", "after_seq": 10}, "entries_unit"),
    ({"booking_id": "BK-7"}, "entries_booking"),
    ({"invoice_number": "INV-2026-000001"}, "entries_invoice_number_key"),
    ({"sort": "status", "after_key": "DUE", "after_seq": 10}, "entries_status"),
    ({"due_from": "2026-01-01", "due_to": "2026-01-03"}, "entries_due"),
]


#: 20,000 entries in 50 buildings, 1,000 units, a tenant on one in ten, some refunds:
#: the planner's choices on an empty table say nothing.
SAMPLE = """
INSERT INTO entries (id, invoice_number, entry_type, status, amount_minor, currency, due_date,
                     building_id, unit_id, booking_id, description, paid_minor, metadata)
SELECT gen_random_uuid(), format('INV-2100-%s', lpad(g::text, 6, '0')),
       (ARRAY['RENT', 'DEPOSIT', 'CLEANING'])[1 + g % 3],
       (ARRAY['DUE', 'PENDING', 'PAID', 'VOID'])[1 + g % 4], 1000 + g % 977, 'SAR',
       CASE WHEN g % 10 = 0 THEN NULL ELSE DATE '2026-01-01' + g % 700 END,
       'bld-' || g % 50, 'unit-' || g % 1000, 'BK-' || g / 2, 'Rent ' || g,
       CASE WHEN g % 4 = 2 THEN 1000 + g % 977 ELSE 0 END,
       CASE WHEN g % 10 = 3 THEN jsonb_build_object('tenant', 'Tenant ' || g) ELSE '{}' END
FROM generate_series(1, 20000) AS g;
INSERT INTO entries (id, invoice_number, entry_type, status, amount_minor, currency,
                     parent_entry_id, building_id)
SELECT gen_random_uuid(), format('INV-2101-%s', lpad(row_number() OVER ()::text, 6, '0')),
       'REFUND', 'REFUNDED', 100, 'SAR', id, building_id
FROM entries WHERE status = 'PAID' AND amount_minor % 50 = 0;
ANALYZE entries;
"""


async def test_every_query_shape_of_the_registry_is_answered_by_an_index(fresh_ledger):
    """Each listing's plan reads an index (of its order, without a sort step, when it is
    ordered) and its totals read the refunds and the filtered set by an
    index (all of them, unfiltered, is a scan of the table by nature)."""
    from datetime import date

    today = date(2026, 12, 4)
    failures = []
    async with fresh_ledger() as session:
        for statement in SAMPLE.split(";")[:-1]:
            await session.execute(text(statement))

        async def plan(statement, params) -> str:
            rows = await session.execute(text("EXPLAIN " + statement.text), params)
            return "\n".join(row[0] for row in rows)

        for raw, index in QUERIES:
            query = {**raw}
            for name in ("due_from", "due_to", "after_key"):
                if isinstance(query.get(name), str) and query[name][:2] == "20":
                    query[name] = date.fromisoformat(query[name])
            filters = {k: v for k, v in query.items()
                       if k not in ("sort", "descending", "after_seq", "after_key")}  # fmt: skip
            listing = await plan(*list_sql(limit=51, today=today, **query))
            totals = await plan(*totals_sql(today=today, **filters))
            problems = []
            if "Seq Scan" in listing:
                problems.append("listing scans the table")
            # a page of a filter may walk the creation-order index (the planner's choice
            # when matches are dense); the whole set, for its totals, is read by the
            # filter's own index
            names = index if isinstance(index, tuple) else (index,)
            if not any(name in (totals if filters else listing) for name in names):
                problems.append(f"{'totals' if filters else 'listing'} does not use {index}")
            # no full sort (an incremental one under a unique key's order is a no-op)
            if "sort" in query and re.search(r"(^|->  )Sort ", listing, re.MULTILINE):
                problems.append("listing sorts")
            # the refunds are read by an index; the set too unless it is every entry
            if re.search(r"Seq Scan on entries +\(", totals) or (
                filters and "Seq Scan on entries e" in totals
            ):
                problems.append("totals scan")
            if problems:
                failures.append(f"{raw}: {problems}\n{listing}\n{totals}")
    assert not failures, "\n\n".join(failures)
