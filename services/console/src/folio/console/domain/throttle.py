"""Failed sign-ins: slowed, then refused. Pure.

Counted per e-mail (guessing one user's password) and per client address (trying
many users from one place); the larger count decides. The answer never says which
part of the credentials was wrong, nor which count tripped.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Allow:
    delay_seconds: float


@dataclass(frozen=True)
class Refuse:
    retry_after_seconds: int


@dataclass(frozen=True)
class ThrottlePolicy:
    window_seconds: int
    slow_after: int
    delay_seconds: float
    max_delay_seconds: float
    refuse_after: int
    #: An address is allowed this many times more failures than one e-mail: many
    #: people may share one address (an office behind NAT, the gateway's own).
    address_factor: int = 5

    def decide(self, failures_for_email: int, failures_for_address: int) -> Allow | Refuse:
        # the address's failures on the e-mail's scale
        failures = max(failures_for_email, failures_for_address // self.address_factor)
        if failures >= self.refuse_after:
            return Refuse(self.window_seconds)
        if failures >= self.slow_after:
            steps = failures - self.slow_after + 1
            return Allow(min(self.delay_seconds * 2 ** (steps - 1), self.max_delay_seconds))
        return Allow(0.0)


def email_key(email: str) -> str:
    return f"email:{email.strip().lower()}"


def address_key(address: str) -> str:
    return f"address:{address}"
