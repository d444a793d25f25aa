"""Each service consumes and publishes exactly the topics of DESIGN.md §1, as its
AsyncAPI document says (built from the registered subscribers and publishers)."""

import json

import pytest
from faststream.specification import AsyncAPI

from folio.ledger.app import create_app as ledger_app
from folio.ledger.settings import LedgerSettings
from folio.registry.app import create_app as registry_app
from folio.registry.settings import RegistrySettings
from folio.rotessa_sync.app import create_app as rotessa_app
from folio.rotessa_sync.settings import RotessaSyncSettings
from folio.shared.contracts import TOPICS
from folio.webhooks.app import create_app as webhooks_app
from folio.webhooks.settings import WebhooksSettings

DESIGN = {
    "ledger": (
        ledger_app, LedgerSettings,
        {"payment.verified", "payment.authorized", "payment.failed", "payment.refunded",
         "payment.collected", "payment.reversed", "renewal.requested"},
        {"ledger.entry.changed", "ledger.transaction.committed", "ledger.command.rejected",
         "ledger.metadata.changed"},
    ),
    "webhooks": (
        webhooks_app, WebhooksSettings,
        set(),
        {"payment.verified", "payment.failed", "payment.refunded", "payment.authorized"},
    ),
    "registry": (
        registry_app, RegistrySettings,
        {"ledger.entry.changed", "schedule.linked"},
        {"mortgage.changed", "renewal.requested", "booking.extended"},
    ),
    "rotessa": (
        rotessa_app, RotessaSyncSettings,
        {"mortgage.changed", "ledger.transaction.committed", "ledger.command.rejected"},
        {"schedule.linked", "payment.collected", "payment.reversed"},
    ),
}


@pytest.mark.parametrize("service", DESIGN)
def test_service_topics_match_the_design(service):
    factory, settings_class, listens, emits = DESIGN[service]
    app = factory(settings_class(environment="test", run_messaging=False))
    spec = json.loads(AsyncAPI(app.state.runtime.broker).to_specification().to_json())
    channels = spec["channels"]
    received, sent = set(), set()
    for operation in spec["operations"].values():
        ref = operation["channel"]["$ref"].split("/")[-1].replace("%2C", ",")
        address = channels[ref]["address"]
        (received if operation["action"] == "receive" else sent).add(address)
    assert received == listens
    assert sent == emits


def test_every_contract_topic_has_a_producer_and_a_consumer():
    emitted = set().union(*(d[3] for d in DESIGN.values()))
    consumed = set().union(*(d[2] for d in DESIGN.values()))
    # booking.extended is informational: emitted for other systems that subscribe to
    # Folio's events, consumed by no Folio service. (payment.authorized moves an
    # invoice to PENDING in the ledger.) ledger.metadata.changed likewise: Formance
    # clients' metadata changes, for whoever follows the journal.
    assert emitted == set(TOPICS)
    assert consumed == set(TOPICS) - {"booking.extended", "ledger.metadata.changed"}
