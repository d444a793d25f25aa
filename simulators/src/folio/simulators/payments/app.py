"""HTTP face of the payment simulators (port 8203 in the dev stack).

``POST /pay`` pays an invoice through a chosen provider: it builds that
provider's real-format deliveries and posts them to Folio's webhook intake.
"""

from html import escape
from typing import Literal

import httpx
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from folio.simulators.index import add_index
from folio.simulators.payments.config import SimulatorSettings
from folio.simulators.payments.scenarios import arrange, deliver_all


class PayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: Literal["moyasar", "tabby", "tamara"]
    invoice_number: str = Field(min_length=1, max_length=64)
    amount: str = Field(pattern=r"^\d+(\.\d{1,3})?$", description="Major units, e.g. 100.00")
    currency: str = Field(default="SAR", pattern=r"^[A-Z]{3}$")
    method: Literal["mada_card", "credit_card", "apple_pay", "google_pay"] = "mada_card"
    duplicate: int = Field(default=1, ge=1, le=20)
    reorder_seed: int | None = None
    auth: Literal["valid", "wrong", "missing"] = "valid"
    paid_at: AwareDatetime | None = Field(
        default=None,
        description="Date the payment in the past (Moyasar and Tabby; Tamara is dated on receipt)",
    )


class RefundRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: Literal["moyasar", "tabby", "tamara"]
    payment_id: str
    amount: str | None = Field(default=None, pattern=r"^\d+(\.\d{1,3})?$")


def create_app(
    settings: SimulatorSettings | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The simulator API; ``transport`` lets tests route posts to an in-process intake."""
    settings = settings or SimulatorSettings.from_env()
    providers = settings.providers()
    app = FastAPI(title="Folio payment-provider simulators (Moyasar, Tabby, Tamara)")

    async def post(deliveries: list) -> list[dict]:
        async with httpx.AsyncClient(timeout=10.0, transport=transport) as client:
            results = await deliver_all(
                client,
                settings.intake_url,
                deliveries,
                attempts=settings.attempts,
                backoff_seconds=settings.backoff_seconds,
            )
        return [
            {
                "description": r.description,
                "status_codes": list(r.status_codes),
                "delivered": r.delivered,
            }
            for r in results
        ]

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok", "intake_url": settings.intake_url}

    @app.post("/pay")
    async def pay(request: PayRequest) -> dict:
        try:
            story = providers.pay(
                request.provider,
                request.invoice_number,
                request.amount,
                request.currency,
                request.method,
                request.paid_at,
            )
        except (KeyError, ValueError) as exc:
            raise HTTPException(422, str(exc)) from None
        deliveries = [providers.with_auth(d, request.auth) for d in story.deliveries]
        deliveries = arrange(
            deliveries, duplicate=request.duplicate, reorder_seed=request.reorder_seed
        )
        return {
            "provider": story.provider,
            "payment_id": story.payment_id,
            "invoice_number": story.invoice_number,
            "deliveries": await post(deliveries),
        }

    @app.post("/refund")
    async def refund(request: RefundRequest) -> dict:
        try:
            story = providers.refund(request.provider, request.payment_id, request.amount)
        except KeyError:
            raise HTTPException(404, f"unknown {request.provider} payment") from None
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        return {
            "provider": story.provider,
            "payment_id": story.payment_id,
            "invoice_number": story.invoice_number,
            "deliveries": await post(story.deliveries),
        }

    @app.get("/checkout", response_class=HTMLResponse, include_in_schema=False)
    async def checkout_page(invoice_number: str = "", amount: str = "") -> HTMLResponse:
        return HTMLResponse(_checkout_html(invoice_number, amount))

    @app.post("/checkout", response_class=HTMLResponse, include_in_schema=False)
    async def checkout(request: Request) -> HTMLResponse:
        """The payer's side in a browser: the form's payment, as ``POST /pay`` makes it."""
        form = await request.form()
        fields = {k: str(form.get(k, "")) for k in ("provider", "invoice_number", "amount")}
        fields["currency"] = str(form.get("currency") or "SAR")
        try:
            paid = await pay(PayRequest(**fields))
        except (ValidationError, HTTPException) as exc:
            message = exc.detail if isinstance(exc, HTTPException) else "check the fields"
            html = _checkout_html(fields["invoice_number"], fields["amount"], error=str(message))
            return HTMLResponse(html, status_code=422)
        codes = ", ".join(str(c) for d in paid["deliveries"] for c in d["status_codes"])
        note = (
            f"{escape(paid['provider'])} posted {len(paid['deliveries'])} webhook(s) for "
            f"{escape(paid['invoice_number'])} to Folio (answers: {escape(codes)})."
        )
        return HTMLResponse(_checkout_html("", "", notice=note))

    add_index(
        app,
        "Pays or refunds an invoice as Moyasar, Tabby or Tamara would: their real-format, "
        f"authenticated webhooks, posted to Folio at {settings.intake_url}. "
        "In a browser: /checkout pays an invoice from a form.",
    )
    return app


def _checkout_html(invoice_number: str, amount: str, *, error: str = "", notice: str = "") -> str:
    """A payer's checkout, as plain as a provider's test page."""
    options = "".join(f'<option value="{p}">{p.title()}</option>' for p in PROVIDERS)
    message = (f'<p role="alert" style="color:#b00020">{escape(error)}</p>' if error else "") + (
        f'<p role="status" style="color:#1b5e20">{notice}</p>' if notice else ""
    )
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Payment simulator: checkout</title></head>
<body style="font-family:sans-serif;max-width:32rem;margin:3rem auto">
<h1>Pay an invoice</h1>
<p>As a tenant would, through a simulated provider: its real webhooks go to Folio.</p>
{message}
<form method="post" action="/checkout">
<p><label>Provider <select name="provider">{options}</select></label></p>
<p><label>Invoice number <input name="invoice_number" required maxlength="64"
 value="{escape(invoice_number)}" placeholder="INV-2026-000123"></label></p>
<p><label>Amount (major units) <input name="amount" required value="{escape(amount)}"
 placeholder="3500.00"></label></p>
<p><label>Currency <input name="currency" value="SAR" maxlength="3" size="4"></label></p>
<p><button type="submit">Pay</button></p>
</form></body></html>"""


PROVIDERS = ("moyasar", "tabby", "tamara")
