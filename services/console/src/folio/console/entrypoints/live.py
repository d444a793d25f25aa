"""An entry's live status: the fragment the entry's page polls (htmx, every 2 s) so
that a provider's webhook turning it PAID shows without a reload.

Polling stops once the entry is settled (PAID, REFUNDED, VOID): the fragment then
comes without its trigger, and htmx's 286 answer ends the poll as well. A failed
or refused read keeps the page as it is (204: nothing swapped) and the next tick
tries again. A poll does not extend the session (it is not the user's activity):
a page left open is signed out at the idle expiry like any other.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from folio.console.adapters.services import LedgerClient, ServiceRefusal, ServiceUnavailable
from folio.console.entrypoints.web import Watching, page_headers, render

router = APIRouter(prefix="/admin/payments", include_in_schema=False)

#: Statuses after which nothing a webhook does shows on this page: the poll ends.
SETTLED = frozenset({"PAID", "REFUNDED", "VOID"})
#: htmx stops polling when an answer has this status (and still swaps it).
STOP_POLLING = 286


@router.get("/{entry_id}/live")
async def entry_live(request: Request, context: Watching, entry_id: str) -> Response:
    ledger: LedgerClient = request.app.state.ledger
    token = request.app.state.token_issuer.issue(context.user)
    try:
        entry = await ledger.entry(token, entry_id[:200])
    except (ServiceRefusal, ServiceUnavailable):
        return page_headers(Response(status_code=204))
    settled = entry["status"] in SETTLED
    return render(
        request,
        "entry_live.html",
        {"entry": entry, "settled": settled, "oob": True},
        STOP_POLLING if settled else 200,
    )
