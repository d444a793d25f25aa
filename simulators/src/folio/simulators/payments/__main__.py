"""CLI: pay (or refund) an invoice through a simulated provider.

    python -m folio.simulators.payments pay --provider moyasar \
        --invoice INV-2026-000001 --amount 100.00 --currency SAR
    python -m folio.simulators.payments serve --port 8203

Posts the provider's real-format deliveries to $FOLIO_WEBHOOKS_URL
(default http://127.0.0.1:8104) and prints what intake answered.
"""

import argparse
import asyncio
import json
import sys

import httpx

from folio.simulators.payments.config import SimulatorSettings
from folio.simulators.payments.scenarios import arrange, deliver_all


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m folio.simulators.payments")
    commands = parser.add_subparsers(dest="command", required=True)
    pay = commands.add_parser("pay", help="pay an invoice through a provider")
    pay.add_argument("--provider", required=True, choices=["moyasar", "tabby", "tamara"])
    pay.add_argument("--invoice", required=True, help="invoice number, e.g. INV-2026-000001")
    pay.add_argument("--amount", required=True, help="major units, e.g. 100.00")
    pay.add_argument("--currency", default="SAR")
    pay.add_argument(
        "--method",
        default="mada_card",
        choices=["mada_card", "credit_card", "apple_pay", "google_pay"],
    )
    pay.add_argument("--duplicate", type=int, default=1, help="send each delivery N times")
    pay.add_argument("--reorder-seed", type=int, default=None, help="shuffle with this seed")
    pay.add_argument(
        "--refund",
        default=None,
        metavar="AMOUNT",
        help="afterwards refund this amount ('all' for everything)",
    )
    pay.add_argument("--intake-url", default=None, help="overrides $FOLIO_WEBHOOKS_URL")
    serve = commands.add_parser("serve", help="serve the simulator HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8203)
    return parser


async def _pay(args: argparse.Namespace, settings: SimulatorSettings) -> int:
    providers = settings.providers()
    story = providers.pay(args.provider, args.invoice, args.amount, args.currency, args.method)
    deliveries = arrange(story.deliveries, duplicate=args.duplicate, reorder_seed=args.reorder_seed)
    async with httpx.AsyncClient(timeout=10.0) as client:
        results = await deliver_all(
            client,
            settings.intake_url,
            deliveries,
            attempts=settings.attempts,
            backoff_seconds=settings.backoff_seconds,
        )
        if args.refund:
            amount = None if args.refund == "all" else args.refund
            refund = providers.refund(args.provider, story.payment_id, amount)
            results += await deliver_all(
                client,
                settings.intake_url,
                refund.deliveries,
                attempts=settings.attempts,
                backoff_seconds=settings.backoff_seconds,
            )
    report = {
        "provider": story.provider,
        "payment_id": story.payment_id,
        "invoice_number": story.invoice_number,
        "intake_url": settings.intake_url,
        "deliveries": [
            {"description": r.description, "status_codes": list(r.status_codes)} for r in results
        ],
    }
    print(json.dumps(report, indent=2))
    return 0 if all(r.delivered for r in results) else 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = SimulatorSettings.from_env()
    if args.command == "serve":
        import uvicorn

        from folio.simulators.payments.app import create_app

        uvicorn.run(create_app(settings), host=args.host, port=args.port)
        return 0
    if args.intake_url:
        from dataclasses import replace

        settings = replace(settings, intake_url=args.intake_url)
    return asyncio.run(_pay(args, settings))


if __name__ == "__main__":
    sys.exit(main())
