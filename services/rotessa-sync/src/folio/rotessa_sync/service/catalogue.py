"""Reading Rotessa's customers and schedules for the admin (through the client)."""

import asyncio

from folio.rotessa_sync.adapters.rotessa_client import RotessaClient
from folio.rotessa_sync.domain.model import RotessaSchedule


async def fetch_all_schedules(client: RotessaClient) -> list[RotessaSchedule]:
    """Every customer's schedules (the client bounds how many requests run at once)."""
    customers = await client.list_customers()
    details = await asyncio.gather(*(client.get_customer(c.id) for c in customers))
    return [s for detail in details for s in detail.schedules(client.currency)]


async def find_schedule(
    client: RotessaClient, schedule_id: int, customer_id: int | None = None
) -> RotessaSchedule | None:
    if customer_id is not None:
        detail = await client.get_customer(customer_id)
        schedules = detail.schedules(client.currency)
    else:
        schedules = await fetch_all_schedules(client)
    return next((s for s in schedules if s.schedule_id == schedule_id), None)
