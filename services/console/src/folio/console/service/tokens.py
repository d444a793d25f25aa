"""The one place the console mints the token it sends to the services for a user.

Signed with the token issuer's Ed25519 private key (``FOLIO_JWT_PRIVATE_KEY``,
``FOLIO_JWT_KEY_ID``; the local development pair outside production): the services
hold only the public keys. Short-lived: a token that leaks from a log or a proxy is
worth minutes.
"""

from __future__ import annotations

from folio.console.domain.users import User
from folio.shared.auth import TokenSigner, mint_token


class TokenIssuer:
    def __init__(
        self, signer: TokenSigner, *, issuer: str = "folio", ttl_seconds: int = 300
    ) -> None:
        self._signer = signer
        self._issuer = issuer
        self.ttl_seconds = ttl_seconds

    def issue(self, user: User) -> str:
        """A bearer token for ``user``: subject their e-mail, roles their console role."""
        return mint_token(
            user.email,
            user.service_roles,
            self._signer,
            issuer=self._issuer,
            ttl_seconds=self.ttl_seconds,
        )
