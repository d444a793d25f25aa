"""What of a delivery is stored: everything except the credentials it carried.

Webhook credentials are write-only secrets; they are checked, then masked so a
database dump or an admin view never reveals them. Masking works on the *parsed*
body, the same tree authentication read, so no spelling of a key (JSON escapes
such as ``"secret\\u005ftoken"``, case, a repeated key) or of a value can slip past
it: every value under a secret-named key, and every string (key or value) that
contains a known credential, becomes ``[redacted]``; the tree is then written
back (numbers as received). A body with nothing to mask is kept byte for byte.
The original body's SHA-256 is kept either way.
"""

import functools
import re
from collections.abc import Collection, Iterable, Mapping
from json.encoder import encode_basestring_ascii
from typing import Any

from folio.webhooks.domain import jsondoc

REDACTED = "[redacted]"
#: Body keys whose value is a credential, compared lower-cased with ``-`` as ``_``.
_SECRET_KEYS = frozenset({"secret_token"})
_SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "webhook-signature"})
_SECRET_QUERY = frozenset({"tamaratoken"})
#: Shorter "credentials" would mask ordinary words; real ones are far longer.
MIN_CREDENTIAL_CHARS = 8


def _usable(credentials: Collection[str]) -> tuple[str, ...]:
    return tuple(c for c in credentials if c and len(c) >= MIN_CREDENTIAL_CHARS)


def _is_secret_key(key: str) -> bool:
    # (the length test first: this runs for every key of every stored body)
    return len(key) == 12 and key.lower().replace("-", "_") in _SECRET_KEYS


def stored_body(body: bytes, tree: Any, credentials: Collection[str] = ()) -> bytes:
    """The body to store: ``tree`` is its :func:`jsondoc.parse` (None if not JSON)."""
    known = _usable(credentials)
    if tree is None:
        # Not JSON, so no reader decodes escapes in it: the raw text is what counts.
        for credential in known:
            body = body.replace(credential.encode(), REDACTED.encode())
        return body
    carries = _finder(known) if known else None
    out: list[str] = []
    if _write_masked(tree, out, carries):
        return "".join(out).encode("ascii")
    return body


@functools.lru_cache(maxsize=64)
def _finder(credentials: tuple[str, ...]) -> Any:
    return re.compile("|".join(map(re.escape, credentials))).search


def _write_masked(node: Any, out: list[str], carries: Any) -> bool:
    """The tree written back as compact ASCII JSON (numbers as received, repeated keys
    kept), masking as it goes; written out for speed (it runs for every
    Moyasar delivery); True if anything was masked."""
    masked = False
    if isinstance(node, str):
        if carries is not None and carries(node):
            out.append(_REDACTED_JSON)
            return True
        out.append(encode_basestring_ascii(node))
    elif isinstance(node, dict | jsondoc.Pairs):
        out.append("{")
        first = True
        for key, value in node.items() if isinstance(node, dict) else node:
            if not first:
                out.append(",")
            first = False
            if carries is not None and carries(key):
                out.append(_REDACTED_JSON)
                masked = True
            else:
                out.append(encode_basestring_ascii(key))
            out.append(":")
            if _is_secret_key(key):
                out.append(_REDACTED_JSON)
                masked = True
            elif _write_masked(value, out, carries):
                masked = True
        out.append("}")
    elif isinstance(node, list):
        out.append("[")
        for index, item in enumerate(node):
            if index:
                out.append(",")
            masked = _write_masked(item, out, carries) or masked
        out.append("]")
    elif isinstance(node, jsondoc.RawNumber):
        out.append(node.text)
    else:
        out.append(_LITERALS[node])
    return masked


_REDACTED_JSON = encode_basestring_ascii(REDACTED)
_LITERALS = {None: "null", True: "true", False: "false"}


def _pairs(items: Mapping[str, str] | Iterable[tuple[str, str]]) -> Iterable[tuple[str, str]]:
    return items.items() if isinstance(items, Mapping) else items


def stored_headers(
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    extra_secret_names: Collection[str] = (),
    credentials: Collection[str] = (),
) -> dict[str, str]:
    """Lower-cased names; a repeated header's values joined (as HTTP combines them)."""
    secret_names = _SECRET_HEADERS | {n.lower() for n in extra_secret_names}
    known = _usable(credentials)
    stored: dict[str, str] = {}
    for name, value in _pairs(headers):
        lowered = name.lower()
        if lowered in secret_names or any(c in value for c in known):
            value = REDACTED
        stored[lowered] = f"{stored[lowered]}, {value}" if lowered in stored else value
    return stored


def stored_query(
    query: Mapping[str, str] | Iterable[tuple[str, str]], credentials: Collection[str] = ()
) -> dict[str, str]:
    known = _usable(credentials)
    stored: dict[str, str] = {}
    for name, value in _pairs(query):
        if name.lower() in _SECRET_QUERY or any(c in value for c in known):
            value = REDACTED
        stored[name] = f"{stored[name]},{value}" if name in stored else value
    return stored
