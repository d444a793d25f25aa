"""The schema migrates and its guards exist."""

from sqlalchemy import text


async def test_schema_has_ledger_tables(uow_factory):
    async with uow_factory() as uow:
        rows = await uow.session.execute(
            text("SELECT table_name FROM information_schema.tables WHERE table_schema = 'ledger'")
        )
        tables = {r[0] for r in rows}
    assert {"entries", "transactions", "moves", "volumes", "journal_seals", "outbox"} <= tables
    assert {"admin_idempotency_keys", "payment_failures"} <= tables  # 0007
