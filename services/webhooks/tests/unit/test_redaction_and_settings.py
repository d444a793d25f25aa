"""Credentials are masked before storage; provider secrets have no production defaults."""

import json

import pytest
from pydantic import ValidationError

from folio.shared.auth import TokenSigner
from folio.webhooks.domain import jsondoc
from folio.webhooks.domain.redaction import REDACTED, stored_body, stored_headers, stored_query
from folio.webhooks.settings import LOCAL_CREDENTIALS, WebhooksSettings

PRODUCTION_KEYS = TokenSigner.generate("prod-1").public_keys_json()


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
    production = WebhooksSettings(environment="production", jwt_public_keys=PRODUCTION_KEYS)
    assert production.secret("moyasar_webhook_secret") is None
    assert production.secret("tamara_notification_token") is None


def test_production_refuses_the_local_credentials():
    with pytest.raises(ValidationError):
        WebhooksSettings(
            environment="production",
            jwt_public_keys=PRODUCTION_KEYS,
            tabby_webhook_secret=LOCAL_CREDENTIALS["tabby_webhook_secret"],
        )


SECRET = "the-moyasar-secret-value"


@pytest.mark.parametrize(
    "spelling",
    [
        '"secret\\u005ftoken"',  # a JSON escape: the same key to every JSON reader
        '"\\u0073ecret_token"',
        '"SECRET_TOKEN"',
        '"Secret-Token"',
    ],
)
def test_every_spelling_of_the_secret_key_is_masked(spelling):
    body = f'{{"id": "e1", {spelling}: "{SECRET}", "data": {{"amount": 100}}}}'.encode()
    masked = stored_body(body, jsondoc.parse(body))
    assert SECRET.encode() not in masked
    assert list(json.loads(masked).values())[1] == REDACTED


def test_an_escaped_secret_value_anywhere_is_masked_by_value():
    escaped = SECRET.replace("m", "\\u006d")  # the same string once decoded
    body = f'{{"id": "e1", "note": ["x", {{"deep": "{escaped}"}}], "{escaped}": 1}}'.encode()
    masked = stored_body(body, jsondoc.parse(body), credentials=[SECRET])
    assert json.loads(masked) == {"id": "e1", "note": ["x", {"deep": REDACTED}], REDACTED: 1}


def test_repeated_secret_keys_are_all_masked_and_the_rest_kept_in_order():
    body = f'{{"secret_token": "a-first-value", "id": "e", "secret_token": "{SECRET}"}}'.encode()
    masked = stored_body(body, jsondoc.parse(body))
    assert masked == b'{"secret_token":"[redacted]","id":"e","secret_token":"[redacted]"}'


def test_a_body_that_is_not_json_is_masked_by_value_in_its_raw_text():
    assert stored_body(f"x {SECRET} y".encode(), None, [SECRET]) == b"x [redacted] y"


def test_headers_are_masked_whatever_their_case_and_repeated_ones_are_kept():
    headers = [
        ("AUTHORIZATION", "Bearer a.b.c"),
        ("Webhook-Signature", "v1,abc"),
        ("x-tabby-WEBHOOK-secret", SECRET),
        ("X-Forwarded-Secret", f"pre {SECRET}"),
        ("Via", "a"),
        ("via", "b"),
    ]
    assert stored_headers(headers, {"X-Tabby-Webhook-Secret"}, [SECRET]) == {
        "authorization": REDACTED,
        "webhook-signature": REDACTED,
        "x-tabby-webhook-secret": REDACTED,
        "x-forwarded-secret": REDACTED,
        "via": "a, b",
    }


def test_query_token_is_masked_whatever_its_case_and_by_value():
    assert stored_query([("TamaraToken", "jwt"), ("p", SECRET), ("p2", "ok")], [SECRET]) == {
        "TamaraToken": REDACTED,
        "p": REDACTED,
        "p2": "ok",
    }


def test_credentials_include_every_configured_one_and_the_standard_key_body():
    settings = WebhooksSettings(environment="local")
    credentials = settings.credentials()
    for name in LOCAL_CREDENTIALS:
        assert settings.secret(name) in credentials
    assert LOCAL_CREDENTIALS["standard_webhook_secret"].removeprefix("whsec_") in credentials
