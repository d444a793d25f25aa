"""The one place the console mints the token it sends to the services for a user.

Today an HS256 token with the shared secret (``FOLIO_JWT_SECRET``); the move to an
asymmetric signature changes this class only. Short-lived: a token that leaks from
a log or a proxy is worth minutes.
"""

from __future__ import annotations

from folio.console.domain.users import User
from folio.shared.auth import mint_token


class TokenIssuer:
    def __init__(self, secret: str, *, issuer: str = "folio", ttl_seconds: int = 300) -> None:
        self._secret = secret
        self._issuer = issuer
        self.ttl_seconds = ttl_seconds

    def issue(self, user: User) -> str:
        """A bearer token for ``user``: subject their e-mail, roles their console role."""
        return mint_token(
            user.email,
            user.service_roles,
            self._secret,
            issuer=self._issuer,
            ttl_seconds=self.ttl_seconds,
        )
