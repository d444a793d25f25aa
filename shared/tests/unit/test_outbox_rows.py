"""Outbox rows are queued ready for COPY; headers are encoded once per distinct value."""

import json

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
