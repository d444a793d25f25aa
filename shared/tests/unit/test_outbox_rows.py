"""Outbox rows are queued ready for COPY; headers are encoded once per distinct value."""

import json

from folio.shared.contracts import new_event_ids
from folio.shared.uow import OUTBOX_COLUMNS, UnitOfWork


def test_rows_are_queued_in_copy_order_with_their_headers_as_json():
    uow = UnitOfWork(sessionmaker=None, producer="test")
    shared = {"correlation_id": "c-1"}
    for n in range(3):
        uow.emit_raw(topic="t", key=f"k{n}", value=b"v", headers=shared)
    shared["correlation_id"] = "c-2"  # the same dict, changed: encoded again
    uow.emit_raw(topic="t", key="k3", value=b"v", headers=shared)
    uow.emit_raw(topic="t", key="k4", value=b"v")
    rows = uow._outbox_rows
    assert OUTBOX_COLUMNS == ("event_id", "topic", "key", "value", "headers", "created_at")
    assert [r.key for r in rows] == ["k0", "k1", "k2", "k3", "k4"]
    assert [json.loads(r.headers) for r in rows] == [
        {"correlation_id": "c-1"}] * 3 + [{"correlation_id": "c-2"}, {}]
    assert len({r.event_id for r in rows}) == 5
    assert all(r.created_at.tzinfo is not None for r in rows)


def test_many_messages_for_one_topic_queue_in_order_after_earlier_ones():
    uow = UnitOfWork(sessionmaker=None, producer="test")
    uow.emit_raw(topic="first", key="a", value=b"0")
    ids = new_event_ids(3)
    uow.emit_raw_many(
        "t", [(f"k{n}", f"v{n}".encode(), ids[n]) for n in range(3)], {"correlation_id": "c"}
    )
    rows = uow._outbox_rows
    assert [(r.topic, r.key, r.value) for r in rows] == [
        ("first", "a", b"0"), ("t", "k0", b"v0"), ("t", "k1", b"v1"), ("t", "k2", b"v2")]
    assert [r.event_id for r in rows[1:]] == ids
    assert {json.loads(r.headers)["correlation_id"] for r in rows[1:]} == {"c"}
    assert rows[1].created_at.tzinfo is not None
