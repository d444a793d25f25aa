"""Each provider's authentication scheme accepts the genuine and refuses the forged."""

from datetime import UTC, datetime, timedelta

import pytest

from folio.simulators.payments.standard import StandardWebhooksSender
from folio.simulators.payments.tamara import TamaraSimulator
from folio.simulators.payments.wire import LOCAL_STANDARD_WEBHOOK_SECRET
from folio.webhooks.domain.verification import (
    AuthenticationFailed,
    secrets_equal,
    tamara_token_from,
    verify_moyasar_secret_token,
    verify_standard_webhook,
    verify_tabby_header,
    verify_tamara_token,
)

TAMARA_SECRET = "tamara-notification-token-for-unit-tests-only"
NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def test_secrets_equal_requires_a_configured_expected_secret():
    assert secrets_equal("abc", "abc")
    assert not secrets_equal("abc", "abd")
    assert not secrets_equal("", "")
    assert not secrets_equal("anything", None)
    assert not secrets_equal(None, "abc")


def test_moyasar_secret_token_must_match_exactly():
    verify_moyasar_secret_token("s3cret-token", "s3cret-token")
    for presented in ["s3cret-tokeN", "s3cret-token ", None, 12345, ""]:
        with pytest.raises(AuthenticationFailed):
            verify_moyasar_secret_token(presented, "s3cret-token")
    with pytest.raises(AuthenticationFailed):
        verify_moyasar_secret_token("", "")


def test_tabby_static_header_is_case_insensitive_on_the_name_only():
    verify_tabby_header({"x-folio-tabby": "v"}, "X-Folio-Tabby", "v")
    with pytest.raises(AuthenticationFailed):
        verify_tabby_header({"X-Folio-Tabby": "V"}, "X-Folio-Tabby", "v")
    with pytest.raises(AuthenticationFailed):
        verify_tabby_header({}, "X-Folio-Tabby", "v")
    with pytest.raises(AuthenticationFailed):
        verify_tabby_header({"X-Folio-Tabby": "v"}, None, "v")


def test_tamara_token_comes_from_query_or_bearer():
    assert tamara_token_from("q", "Bearer h") == "q"
    assert tamara_token_from(None, "Bearer h") == "h"
    assert tamara_token_from(None, "bearer  h ") == "h"
    assert tamara_token_from(None, "Basic h") is None
    assert tamara_token_from("", None) is None


def _token(**kwargs) -> str:
    return TamaraSimulator(TAMARA_SECRET).token(**kwargs)


def test_tamara_valid_token_is_accepted():
    claims = verify_tamara_token(_token(issued_at=NOW - timedelta(minutes=1)), TAMARA_SECRET, NOW)
    assert claims["iss"] == "Tamara"


@pytest.mark.parametrize(
    ("case", "token_kwargs"),
    [
        ("expired", {"issued_at": NOW - timedelta(minutes=20)}),
        ("issued in the future", {"issued_at": NOW + timedelta(minutes=5)}),
        ("wrong secret", {"issued_at": NOW, "secret": "another-notification-token-32-bytes!"}),
        ("wrong issuer", {"issued_at": NOW, "issuer": "Mallory"}),
        ("implausible lifetime", {"issued_at": NOW, "lifetime": timedelta(days=30)}),
        ("other algorithm", {"issued_at": NOW, "algorithm": "HS512"}),
    ],
)
def test_tamara_bad_tokens_are_refused(case, token_kwargs):
    with pytest.raises(AuthenticationFailed):
        verify_tamara_token(_token(**token_kwargs), TAMARA_SECRET, NOW)


def test_tamara_unsigned_or_missing_token_is_refused():
    import jwt

    unsigned = jwt.encode(
        {"iat": int(NOW.timestamp()), "exp": int(NOW.timestamp()) + 900, "iss": "Tamara"},
        key=None,
        algorithm="none",
    )
    for token in [unsigned, "", None, "not.a.jwt"]:
        with pytest.raises(AuthenticationFailed):
            verify_tamara_token(token, TAMARA_SECRET, NOW)
    with pytest.raises(AuthenticationFailed):
        verify_tamara_token(_token(issued_at=NOW), None, NOW)


def test_standard_webhook_accepts_a_fresh_signature_and_returns_its_id():
    delivery = StandardWebhooksSender().delivery("payment.verified", {"x": 1}, webhook_id="msg_1")
    assert (
        verify_standard_webhook(delivery.body, delivery.headers, LOCAL_STANDARD_WEBHOOK_SECRET)
        == "msg_1"
    )


def test_standard_webhook_refuses_changed_body_old_future_and_malformed():
    sender = StandardWebhooksSender()
    fresh = sender.delivery("payment.verified", {"x": 1})
    with pytest.raises(AuthenticationFailed):
        verify_standard_webhook(
            fresh.with_one_byte_changed().body, fresh.headers, LOCAL_STANDARD_WEBHOOK_SECRET
        )
    now = datetime.now(UTC)
    for sent_at in [now - timedelta(minutes=6), now + timedelta(minutes=6)]:
        stale = sender.delivery("payment.verified", {"x": 1}, sent_at=sent_at)
        with pytest.raises(AuthenticationFailed):
            verify_standard_webhook(stale.body, stale.headers, LOCAL_STANDARD_WEBHOOK_SECRET)
    garbled = dict(fresh.headers, **{"webhook-signature": "v1 no-comma"})
    with pytest.raises(AuthenticationFailed):
        verify_standard_webhook(fresh.body, garbled, LOCAL_STANDARD_WEBHOOK_SECRET)
    missing = {k: v for k, v in fresh.headers.items() if k != "webhook-signature"}
    with pytest.raises(AuthenticationFailed):
        verify_standard_webhook(fresh.body, missing, LOCAL_STANDARD_WEBHOOK_SECRET)
    other = StandardWebhooksSender("whsec_" + "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldA==")
    forged = other.delivery("payment.verified", {"x": 1})
    with pytest.raises(AuthenticationFailed):
        verify_standard_webhook(forged.body, forged.headers, LOCAL_STANDARD_WEBHOOK_SECRET)


def test_standard_webhook_accepts_any_signature_in_a_rotation_list():
    sender = StandardWebhooksSender()
    delivery = sender.delivery("payment.verified", {"x": 1})
    rotated = dict(
        delivery.headers,
        **{"webhook-signature": "v1,b2xkLXNpZ25hdHVyZQ== " + delivery.headers["webhook-signature"]},
    )
    verify_standard_webhook(delivery.body, rotated, LOCAL_STANDARD_WEBHOOK_SECRET)
