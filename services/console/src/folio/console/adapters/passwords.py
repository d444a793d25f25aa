"""Password hashing: argon2id (argon2-cffi's RFC 9106 low-memory profile)."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # argon2id, parameters of argon2-cffi's default profile

#: Verified when the e-mail is unknown, so that an unknown user costs as much time as a
#: wrong password (the answer's timing does not tell which part was wrong).
_DUMMY_HASH = _hasher.hash("folio-console-no-such-user")


async def hash_password(password: str) -> str:
    # argon2 is CPU and memory bound on purpose: off the event loop.
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    def verify() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and (
                password_hash is not None
            )
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
