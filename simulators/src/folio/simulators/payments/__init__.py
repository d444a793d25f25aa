"""Payment-provider simulators (Moyasar, Tabby, Tamara, Standard Webhooks).

They build deliveries in each provider's real wire format (PROVIDERS.md),
authenticated correctly or deliberately wrongly, and can retry, duplicate and
reorder them. ``create_app()`` serves them over HTTP; ``python -m
folio.simulators.payments pay ...`` pays an invoice from the command line.
"""

from folio.simulators.payments.app import create_app

__all__ = ["create_app"]
