"""Payment-method settings (seed 003 §6).

Five methods, three providers. A method is offered to payers only when an admin
enabled it **and** its provider's API key is configured. Keys are write-only:
views expose whether a key is configured, never the key.
"""

from dataclasses import dataclass
from typing import Literal

MethodKey = Literal["mada_card", "apple_pay", "google_pay", "tabby", "tamara"]


@dataclass(frozen=True)
class PaymentMethodDefinition:
    method_key: MethodKey
    provider: Literal["moyasar", "tabby", "tamara"]
    toggle: str
    display_name: str


PAYMENT_METHODS: tuple[PaymentMethodDefinition, ...] = (
    PaymentMethodDefinition("mada_card", "moyasar", "enable_cards_mada", "mada / card"),
    PaymentMethodDefinition("apple_pay", "moyasar", "enable_apple_pay", "Apple Pay"),
    PaymentMethodDefinition("google_pay", "moyasar", "enable_google_pay", "Google Pay"),
    PaymentMethodDefinition("tabby", "tabby", "enable_tabby", "Tabby"),
    PaymentMethodDefinition("tamara", "tamara", "enable_tamara", "Tamara"),
)
METHODS_BY_KEY = {m.method_key: m for m in PAYMENT_METHODS}
PROVIDERS = ("moyasar", "tabby", "tamara")


@dataclass(frozen=True)
class PaymentMethodSetting:
    """A method's admin state; ``api_key_configured`` is derived from its provider's key."""

    method_key: MethodKey
    is_enabled: bool
    api_key_configured: bool

    @property
    def definition(self) -> PaymentMethodDefinition:
        return METHODS_BY_KEY[self.method_key]

    @property
    def is_offered(self) -> bool:
        """Seed rule: listed only if enabled AND the key is configured."""
        return self.is_enabled and self.api_key_configured


def key_is_configured(api_key: str | None) -> bool:
    """Keys may be left empty (stubs awaiting configuration); blank means not configured."""
    return bool(api_key and api_key.strip())


def settings_for(
    enabled: dict[str, bool], provider_keys: dict[str, str | None]
) -> list[PaymentMethodSetting]:
    """Every method's setting, in canonical order, from toggles and provider keys."""
    return [
        PaymentMethodSetting(
            method_key=m.method_key,
            is_enabled=enabled.get(m.method_key, False),
            api_key_configured=key_is_configured(provider_keys.get(m.provider)),
        )
        for m in PAYMENT_METHODS
    ]


def offered_methods(settings: list[PaymentMethodSetting]) -> list[PaymentMethodSetting]:
    return [s for s in settings if s.is_offered]
