"""Simulator configuration from the environment (read when an app or CLI starts)."""

import os
from dataclasses import dataclass

from folio.simulators.payments.moyasar import MoyasarSimulator
from folio.simulators.payments.scenarios import PaymentProviders
from folio.simulators.payments.tabby import TabbySimulator
from folio.simulators.payments.tamara import TamaraSimulator
from folio.simulators.payments.wire import (
    LOCAL_MOYASAR_SECRET_TOKEN,
    LOCAL_TABBY_HEADER_NAME,
    LOCAL_TABBY_HEADER_VALUE,
    LOCAL_TAMARA_NOTIFICATION_TOKEN,
)

DEFAULT_INTAKE_URL = "http://127.0.0.1:8104"


@dataclass(frozen=True)
class SimulatorSettings:
    """Where to post and which credentials to use; defaults match the local dev stack."""

    intake_url: str = DEFAULT_INTAKE_URL
    moyasar_secret_token: str = LOCAL_MOYASAR_SECRET_TOKEN
    tabby_header_name: str = LOCAL_TABBY_HEADER_NAME
    tabby_header_value: str = LOCAL_TABBY_HEADER_VALUE
    tamara_notification_token: str = LOCAL_TAMARA_NOTIFICATION_TOKEN
    attempts: int = 6
    backoff_seconds: float = 0.5

    @classmethod
    def from_env(cls) -> "SimulatorSettings":
        env = os.environ
        return cls(
            intake_url=env.get("FOLIO_WEBHOOKS_URL", DEFAULT_INTAKE_URL),
            moyasar_secret_token=env.get(
                "FOLIO_MOYASAR_WEBHOOK_SECRET", LOCAL_MOYASAR_SECRET_TOKEN
            ),
            tabby_header_name=env.get("FOLIO_TABBY_WEBHOOK_HEADER", LOCAL_TABBY_HEADER_NAME),
            tabby_header_value=env.get("FOLIO_TABBY_WEBHOOK_SECRET", LOCAL_TABBY_HEADER_VALUE),
            tamara_notification_token=env.get(
                "FOLIO_TAMARA_NOTIFICATION_TOKEN", LOCAL_TAMARA_NOTIFICATION_TOKEN
            ),
        )

    def providers(self) -> PaymentProviders:
        return PaymentProviders(
            MoyasarSimulator(self.moyasar_secret_token),
            TabbySimulator(self.tabby_header_name, self.tabby_header_value),
            TamaraSimulator(self.tamara_notification_token),
        )
