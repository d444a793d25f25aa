"""Seed 003 §6: a method is offered only when enabled AND its provider key is configured."""

from folio.webhooks.domain.payment_methods import (
    PAYMENT_METHODS,
    key_is_configured,
    offered_methods,
    settings_for,
)


def test_the_five_methods_and_their_toggles_match_the_seed():
    assert [(m.method_key, m.provider, m.toggle) for m in PAYMENT_METHODS] == [
        ("mada_card", "moyasar", "enable_cards_mada"),
        ("apple_pay", "moyasar", "enable_apple_pay"),
        ("google_pay", "moyasar", "enable_google_pay"),
        ("tabby", "tabby", "enable_tabby"),
        ("tamara", "tamara", "enable_tamara"),
    ]


def test_only_enabled_methods_with_a_configured_key_are_offered():
    settings = settings_for(
        enabled={
            "mada_card": True,
            "apple_pay": False,
            "google_pay": True,
            "tabby": True,
            "tamara": True,
        },
        provider_keys={"moyasar": "pk_live_x", "tabby": "   ", "tamara": None},
    )
    assert [s.method_key for s in offered_methods(settings)] == ["mada_card", "google_pay"]


def test_nothing_is_offered_by_default_and_blank_keys_are_not_configured():
    assert offered_methods(settings_for({}, {})) == []
    assert not key_is_configured("")
    assert not key_is_configured(None)
    assert key_is_configured("sk_test_1")
