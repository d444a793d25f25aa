"""Credentials are masked before storage; provider secrets have no production defaults."""

import json

import pytest
from pydantic import ValidationError

from folio.webhooks.domain import jsondoc
from folio.webhooks.domain.redaction import REDACTED, stored_body, stored_headers, stored_query
from folio.webhooks.settings import LOCAL_CREDENTIALS, WebhooksSettings


def test_moyasar_secret_token_is_masked_and_a_body_without_secrets_kept_byte_for_byte():
    body = b'{"id":"e1","secret_token":"s3cr\\"et","data":{"amount":100}}'
    masked = stored_body(body, jsondoc.parse(body))
    assert json.loads(masked) == {"id": "e1", "secret_token": REDACTED, "data": {"amount": 100}}
    assert b"s3cr" not in masked
    plain = b'{"id": "e1",  "data": {"amount": 1.50, "n": 1E+2}}'
    assert stored_body(plain, jsondoc.parse(plain)) == plain


def test_credential_headers_and_query_are_masked():
    headers = {"Authorization": "Bearer t", "X-Tabby-Webhook-Secret": "v", "Content-Type": "json"}
    assert stored_headers(headers, {"x-tabby-webhook-secret"}) == {
        "authorization": REDACTED,
        "x-tabby-webhook-secret": REDACTED,
        "content-type": "json",
    }
    assert stored_query({"tamaraToken": "jwt", "page": "1"}) == {
        "tamaraToken": REDACTED,
        "page": "1",
    }


def test_local_credentials_default_only_outside_production(monkeypatch):
    for name in ("FOLIO_MOYASAR_WEBHOOK_SECRET", "FOLIO_TAMARA_NOTIFICATION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    local = WebhooksSettings(environment="local")
    assert local.secret("moyasar_webhook_secret") == LOCAL_CREDENTIALS["moyasar_webhook_secret"]
    production = WebhooksSettings(environment="production", jwt_secret="a-real-production-secret")
    assert production.secret("moyasar_webhook_secret") is None
    assert production.secret("tamara_notification_token") is None


def test_production_refuses_the_local_credentials():
    with pytest.raises(ValidationError):
        WebhooksSettings(
            environment="production",
            jwt_secret="a-real-production-secret",
            tabby_webhook_secret=LOCAL_CREDENTIALS["tabby_webhook_secret"],
        )
