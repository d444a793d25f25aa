"""Provider authentication schemes (PROVIDERS.md), as pure functions.

Each verifier raises :class:`AuthenticationFailed` and returns nothing useful on
failure, so a caller can answer 401 before anything is stored. Secret
comparisons are constant-time (``hmac.compare_digest``) so response timing
does not leak how much of a guessed secret was right.
"""

import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta

import jwt
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

#: Tamara tokens live 15 minutes; allow a little clock skew either side.
TAMARA_CLOCK_SKEW = timedelta(seconds=60)
#: A token claiming a longer life than this is not one Tamara issued.
TAMARA_MAX_LIFETIME = timedelta(hours=1)
TAMARA_ISSUER = "Tamara"


class AuthenticationFailed(Exception):
    """The delivery did not prove it came from the provider."""


def secrets_equal(presented: str | bytes | None, expected: str | bytes | None) -> bool:
    """Constant-time equality; an unset expected secret never matches."""
    if not expected or presented is None:
        return False
    presented_bytes = presented.encode() if isinstance(presented, str) else presented
    expected_bytes = expected.encode() if isinstance(expected, str) else expected
    return hmac.compare_digest(presented_bytes, expected_bytes)


def verify_moyasar_secret_token(presented: object, expected: str | None) -> None:
    """Moyasar echoes the webhook's shared secret in the body as ``secret_token``."""
    if not isinstance(presented, str) or not secrets_equal(presented, expected):
        raise AuthenticationFailed("moyasar secret_token mismatch")


def verify_tabby_header(
    headers: Mapping[str, str], header_name: str | None, expected: str | None
) -> None:
    """Tabby echoes a static header chosen at webhook registration."""
    if not header_name:
        raise AuthenticationFailed("tabby header not configured")
    wanted = header_name.lower()
    presented = next((v for k, v in headers.items() if k.lower() == wanted), None)
    if not secrets_equal(presented, expected):
        raise AuthenticationFailed("tabby header mismatch")


def tamara_token_from(query_token: str | None, authorization: str | None) -> str | None:
    """Tamara sends the token as ``?tamaraToken=`` and as ``Authorization: Bearer``."""
    if query_token:
        return query_token
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    return None


def verify_tamara_token(token: str | None, secret: str | None, now: datetime) -> dict:
    """Check a ``tamaraToken``: HS256 only, issuer Tamara, ``iat``/``exp`` against ``now``.

    Times are checked here rather than by PyJWT so the clock is injectable and
    tokens issued in the future or with an implausible lifetime are refused too.
    """
    if not token or not secret:
        raise AuthenticationFailed("tamara token missing or secret not configured")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            issuer=TAMARA_ISSUER,
            options={"require": ["exp", "iat", "iss"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError as exc:
        raise AuthenticationFailed(f"tamara token invalid: {exc}") from None
    try:
        issued_at = int(claims["iat"])
        expires_at = int(claims["exp"])
    except (TypeError, ValueError, OverflowError):
        raise AuthenticationFailed("tamara token times are not integers") from None
    now_ts = now.timestamp()
    skew = TAMARA_CLOCK_SKEW.total_seconds()
    if issued_at > now_ts + skew:
        raise AuthenticationFailed("tamara token issued in the future")
    if expires_at <= now_ts - skew:
        raise AuthenticationFailed("tamara token expired")
    if expires_at - issued_at > TAMARA_MAX_LIFETIME.total_seconds() or expires_at < issued_at:
        raise AuthenticationFailed("tamara token lifetime implausible")
    return claims


def verify_standard_webhook(body: bytes, headers: Mapping[str, str], secret: str | None) -> str:
    """Standard Webhooks HMAC (``v1,`` signatures, ±5 min tolerance); returns ``webhook-id``."""
    if not secret:
        raise AuthenticationFailed("standard webhooks secret not configured")
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        Webhook(secret).verify(body, lowered, json_parse=False)
    except WebhookVerificationError as exc:
        raise AuthenticationFailed(f"standard webhook: {exc}") from None
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        # malformed signature lists, bad base64 or a non-UTF-8 body
        raise AuthenticationFailed(f"standard webhook malformed: {type(exc).__name__}") from None
    return lowered["webhook-id"]
