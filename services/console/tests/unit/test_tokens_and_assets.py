"""The per-user service token, and the front-end assets' pinned lock."""

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest

from folio.console.domain.users import Role, User
from folio.console.service.tokens import TokenIssuer
from folio.shared.auth import TokenSigner, TokenVerifier, decode_token
from folio.shared.problems import Problem

CONSOLE = Path(__file__).resolve().parents[2]


def user(role: Role) -> User:
    now = datetime.now(UTC)
    return User(uuid4(), "ana@example.com", "Ana", role, True, now, now, 1)


def test_the_token_names_the_user_and_their_role_and_lives_minutes():
    signer = TokenSigner.generate("console-test")
    issuer = TokenIssuer(signer, ttl_seconds=300)
    before = int(time.time())
    token = issuer.issue(user(Role.VIEWER))
    verifier = TokenVerifier.from_json(signer.public_keys_json())
    principal = decode_token(token, verifier, max_lifetime_seconds=300)
    assert principal.subject == "ana@example.com"
    assert principal.roles == frozenset({"viewer"})
    import jwt

    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 300 and claims["iat"] >= before


def test_a_token_of_another_key_is_refused():
    token = TokenIssuer(TokenSigner.generate("k1")).issue(user(Role.ADMIN))
    other = TokenVerifier.from_json(TokenSigner.generate("k1").public_keys_json())
    with pytest.raises(Problem):
        decode_token(token, other)


def test_the_htmx_lock_is_pinned_by_integrity_and_names_no_registry():
    text = (CONSOLE / "package-lock.json").read_text()
    lock = json.loads(text)
    packages = {k: v for k, v in lock["packages"].items() if k}
    assert packages, "the lock lists the assets"
    for name, package in packages.items():
        assert package["integrity"].startswith("sha512-"), name
        assert "resolved" not in package, name
    assert "registry" not in text and "http" not in text
    assert "omit-lockfile-registry-resolved=true" in (CONSOLE / ".npmrc").read_text()
    declared = json.loads((CONSOLE / "package.json").read_text())["dependencies"]
    assert all(not v.startswith(("^", "~")) for v in declared.values()), "exact versions only"
