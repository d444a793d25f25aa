"""What of a delivery is stored: everything except the credentials it carried.

Webhook credentials are write-only secrets; they are checked, then masked so a
database dump or an admin view never reveals them. The body stays byte-for-byte
raw apart from the Moyasar ``secret_token`` value; its original SHA-256 is kept.
"""

import re
from collections.abc import Mapping

REDACTED = "[redacted]"
_MOYASAR_SECRET = re.compile(rb'("secret_token"\s*:\s*)"(?:[^"\\]|\\.)*"')
_SECRET_HEADERS = {"authorization", "cookie", "proxy-authorization"}
_SECRET_QUERY = {"tamaratoken"}


def stored_body(channel: str, body: bytes) -> bytes:
    if channel == "moyasar":
        return _MOYASAR_SECRET.sub(rb'\1"' + REDACTED.encode() + rb'"', body)
    return body


def stored_headers(headers: Mapping[str, str], extra_secret_names: set[str]) -> dict[str, str]:
    secret_names = _SECRET_HEADERS | {n.lower() for n in extra_secret_names}
    return {k.lower(): (REDACTED if k.lower() in secret_names else v) for k, v in headers.items()}


def stored_query(query: Mapping[str, str]) -> dict[str, str]:
    return {k: (REDACTED if k.lower() in _SECRET_QUERY else v) for k, v in query.items()}
