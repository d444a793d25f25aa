"""Every 2xx answer of every route this service documents (its own, the operations and
the dead-letter routes) names a response model: the fuzzer's response-schema check
has something to check, and a client knows what it gets."""

from folio.shared.responses import untyped_2xx
from folio.webhooks.app import create_app
from folio.webhooks.settings import WebhooksSettings


def test_every_2xx_of_every_route_has_a_typed_response_model():
    settings = WebhooksSettings(
        database_url="postgresql://nobody@127.0.0.1:1/none", environment="test",
        run_messaging=False, log_json=False,
    )  # fmt: skip
    spec = create_app(settings).openapi()
    assert spec["paths"]
    assert untyped_2xx(spec) == []
