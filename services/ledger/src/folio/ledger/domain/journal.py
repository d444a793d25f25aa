"""Double-entry journal with Formance Ledger v2 semantics. Pure: no I/O.

Addresses and assets follow Formance's own patterns (formancehq/ledger
``pkg/accounts`` and ``pkg/assets``), so anything accepted here is accepted by
Formance and vice versa.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from functools import lru_cache

ACCOUNT_SEGMENT = r"[a-zA-Z0-9_-]+"
ACCOUNT_RE = re.compile(rf"^{ACCOUNT_SEGMENT}(:{ACCOUNT_SEGMENT})*$")
ASSET_RE = re.compile(r"^[A-Z][A-Z0-9]{0,16}(_[A-Z]{1,16})?(/\d{1,6})?$")
WORLD = "world"
MAX_ADDRESS_LENGTH = 512
GENESIS_HASH = "0" * 64
#: A single amount is stored as ``bigint``; an account's volumes (running totals) as
#: ``numeric(38,0)`` (migration 0009), so a busy account such as ``world`` never fills
#: up. Nothing beyond these may be accepted, or the journal could not hold what it
#: had acknowledged.
MAX_AMOUNT = 2**63 - 1
MAX_VOLUME = 10**38 - 1
NUMERIC_OVERFLOW_MESSAGE = f"an amount or a resulting volume would pass {MAX_VOLUME}"


class JournalError(Exception):
    """Base of journal rule violations; ``error_code`` is Formance's V2ErrorsEnum value."""

    error_code = "VALIDATION"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidPosting(JournalError):
    error_code = "VALIDATION"


class NoPostings(JournalError):
    error_code = "NO_POSTINGS"


class InsufficientFunds(JournalError):
    error_code = "INSUFFICIENT_FUND"


class AlreadyReverted(JournalError):
    error_code = "ALREADY_REVERT"


class InvalidTimestamp(JournalError):
    error_code = "VALIDATION"


class VolumeOverflow(JournalError):
    """A resulting input or output volume would not fit the journal's columns."""

    error_code = "VALIDATION"


def check_timestamp(moment: object, name: str = "timestamp") -> datetime:
    """``moment`` as a UTC datetime, or ``InvalidTimestamp``.

    Only instants whose UTC time falls in years 1-9999 are accepted: the database
    would store e.g. ``9999-12-31T23:59:59-12:00`` (year 10000 in UTC), but Python,
    and so every read, hash and point-in-time query, cannot hold it.
    """
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise InvalidTimestamp(f"{name} must be a time with a timezone")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise InvalidTimestamp(
            f"{name} {moment.isoformat()} is outside years 1-9999 in UTC"
        ) from None


# Cached: a batch names the same few accounts and assets over and over.
@lru_cache(maxsize=65_536)
def is_valid_address(address: str) -> bool:
    return len(address) <= MAX_ADDRESS_LENGTH and ACCOUNT_RE.fullmatch(address) is not None


@lru_cache(maxsize=1_024)
def is_valid_asset(asset: str) -> bool:
    return ASSET_RE.fullmatch(asset) is not None


def asset_for(currency: str, exponent: int) -> str:
    """Formance asset notation with precision, e.g. ``SAR/2``."""
    asset = f"{currency}/{exponent}"
    if not is_valid_asset(asset):
        raise InvalidPosting(f"invalid asset {asset!r}")
    return asset


@dataclass(frozen=True, slots=True)
class Posting:
    source: str
    destination: str
    amount: int
    asset: str

    def validate(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise InvalidPosting("posting amount must be an integer")
        if self.amount < 0:
            raise InvalidPosting("negative amount")
        if self.amount > MAX_AMOUNT:
            raise InvalidPosting(f"amount {self.amount} is beyond {MAX_AMOUNT}")
        if not is_valid_address(self.source):
            raise InvalidPosting(f"invalid source address {self.source!r}")
        if not is_valid_address(self.destination):
            raise InvalidPosting(f"invalid destination address {self.destination!r}")
        if not is_valid_asset(self.asset):
            raise InvalidPosting(f"invalid asset {self.asset!r}")

    def as_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "destination": self.destination,
            "amount": self.amount,
            "asset": self.asset,
        }


def validate_postings(postings: Sequence[Posting]) -> None:
    if not postings:
        raise NoPostings("transaction has no postings")
    for posting in postings:
        posting.validate()


@dataclass(slots=True)
class Volumes:
    """Cumulative inputs and outputs of one account in one asset; balance = input - output."""

    input: int = 0
    output: int = 0

    @property
    def balance(self) -> int:
        return self.input - self.output

    def copy(self) -> Volumes:
        return Volumes(self.input, self.output)


VolumeKey = tuple[str, str]  # (account address, asset)


@dataclass(frozen=True)
class OverdraftPolicy:
    """Which accounts may go negative: ``world`` always, plus configured glob patterns
    (e.g. ``rotessa:clearing``, ``platform:*``)."""

    allowed_patterns: tuple[str, ...] = ()

    def allows(self, address: str) -> bool:
        if address == WORLD:
            return True
        return any(fnmatchcase(address, pattern) for pattern in self.allowed_patterns)


def touched_keys(postings: Iterable[Posting]) -> list[VolumeKey]:
    """Every (account, asset) a set of postings touches, sorted: the lock order that
    keeps concurrent writers deadlock-free."""
    keys = {(p.source, p.asset) for p in postings} | {(p.destination, p.asset) for p in postings}
    return sorted(keys)


def apply_postings(
    volumes: Mapping[VolumeKey, Volumes],
    postings: Sequence[Posting],
    policy: OverdraftPolicy,
    *,
    force: bool = False,
) -> dict[VolumeKey, Volumes]:
    """New volumes after ``postings`` are applied in order.

    Like Formance, each posting is checked when it is applied: its source must
    hold enough of the asset unless overdraft is allowed for it or ``force`` is set.
    Returns only the touched keys; ``volumes`` is not modified. A resulting volume
    beyond ``MAX_VOLUME`` is refused (``VolumeOverflow``).
    """
    validate_postings(postings)
    after: dict[VolumeKey, Volumes] = {}
    for key in touched_keys(postings):
        after[key] = volumes.get(key, Volumes()).copy()
    for posting in postings:
        source = after[(posting.source, posting.asset)]
        if not force and not policy.allows(posting.source) and source.balance - posting.amount < 0:
            raise InsufficientFunds(
                f"account {posting.source!r} has {source.balance} {posting.asset}, "
                f"needs {posting.amount}"
            )
        source.output += posting.amount
        destination = after[(posting.destination, posting.asset)]
        destination.input += posting.amount
        if source.output > MAX_VOLUME or destination.input > MAX_VOLUME:
            raise VolumeOverflow(
                f"volumes of {posting.source!r} or {posting.destination!r} in {posting.asset} "
                f"would pass {MAX_VOLUME}"
            )
    return after


def reverse_postings(postings: Sequence[Posting]) -> list[Posting]:
    """The postings that undo ``postings``: swapped and in reverse order (Formance revert)."""
    return [
        Posting(source=p.destination, destination=p.source, amount=p.amount, asset=p.asset)
        for p in reversed(postings)
    ]


def check_revertible(already_reverted: bool) -> None:
    if already_reverted:
        raise AlreadyReverted("transaction already reverted")


def invariant_violations(
    volumes: Mapping[VolumeKey, Volumes], policy: OverdraftPolicy
) -> list[str]:
    """Problems with a set of account volumes (the ledger's invariant checker):
    per asset, total inputs must equal total outputs (postings sum to zero), and
    no account that forbids overdraft may be negative."""
    problems: list[str] = []
    per_asset: dict[str, int] = {}
    for (account, asset), vol in sorted(volumes.items()):
        per_asset[asset] = per_asset.get(asset, 0) + vol.input - vol.output
        if vol.balance < 0 and not policy.allows(account):
            problems.append(f"{account} is negative in {asset}: {vol.balance}")
    for asset, net in sorted(per_asset.items()):
        if net != 0:
            problems.append(f"postings in {asset} do not sum to zero: {net}")
    return problems


def balances_from_postings(postings: Iterable[Posting]) -> dict[VolumeKey, Volumes]:
    """Volumes recomputed from raw postings (point-in-time queries, invariant checks)."""
    volumes: dict[VolumeKey, Volumes] = {}
    for p in postings:
        volumes.setdefault((p.source, p.asset), Volumes()).output += p.amount
        volumes.setdefault((p.destination, p.asset), Volumes()).input += p.amount
    return volumes


@dataclass(frozen=True)
class Transaction:
    """A committed journal transaction as the hash chain sees it."""

    ledger: str
    transaction_id: int
    postings: tuple[Posting, ...]
    timestamp: datetime | str  # str: a stored time Python cannot hold (see ``_iso``)
    inserted_at: datetime
    reference: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    reverts_transaction_id: int | None = None


def _iso(moment: datetime | str) -> str:
    if isinstance(moment, str):
        # a time outside Python's years, stored before they were refused: its canonical
        # form is the database's fixed rendering (journal_repository), so it hashes too
        return moment
    if moment.tzinfo is None:
        raise ValueError("naive datetime in the journal")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def content_hash(tx: Transaction) -> str:
    """SHA-256 over a canonical JSON form of everything that makes the transaction."""
    canonical = {
        "ledger": tx.ledger,
        "id": tx.transaction_id,
        "reference": tx.reference,
        "timestamp": _iso(tx.timestamp),
        "inserted_at": _iso(tx.inserted_at),
        "postings": [p.as_dict() for p in tx.postings],
        "metadata": dict(sorted(tx.metadata.items())),
        "reverts": tx.reverts_transaction_id,
    }
    encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(encoded.encode()).hexdigest()


@dataclass(frozen=True)
class MetadataChange:
    """A change of a transaction's or an account's metadata, as the chain sees it:
    a journal entry of its own (its id comes from the transactions' sequence)."""

    ledger: str
    id: int
    kind: str  # SET_METADATA | DELETE_METADATA
    target_type: str  # TRANSACTION | ACCOUNT
    target_id: str
    inserted_at: datetime
    metadata: Mapping[str, str] | None = None
    key: str | None = None


def change_hash(change: MetadataChange) -> str:
    """SHA-256 over a canonical JSON form of a metadata change."""
    canonical = {
        "ledger": change.ledger,
        "id": change.id,
        "kind": change.kind,
        "target_type": change.target_type,
        "target_id": change.target_id,
        "inserted_at": _iso(change.inserted_at),
        "metadata": dict(sorted(change.metadata.items())) if change.metadata is not None else None,
        "key": change.key,
    }
    encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(encoded.encode()).hexdigest()


def apply_change(metadata: Mapping[str, str], change: MetadataChange) -> dict[str, str]:
    """Metadata after ``change`` (the projection verify checks against the log)."""
    out = dict(metadata)
    if change.kind == "SET_METADATA":
        out.update(change.metadata or {})
    else:
        out.pop(change.key or "", None)
    return out


def chain_hash(previous_chain_hash: str, transaction_content_hash: str) -> str:
    """Next link of the tamper-evidence chain: H(previous link ‖ row hash)."""
    return hashlib.sha256(f"{previous_chain_hash}:{transaction_content_hash}".encode()).hexdigest()


@dataclass(frozen=True)
class SealRecord:
    """One link as stored: position in the chain, the transaction it seals, the
    row hash recorded at sealing time and the resulting chain hash."""

    seal_seq: int
    transaction_id: int
    row_hash: str
    chain_hash: str


@dataclass(frozen=True)
class ChainProblem:
    seal_seq: int | None
    transaction_id: int | None
    problem: str


def verify_chain(
    seals: Sequence[SealRecord],
    current_row_hashes: Mapping[int, str],
    unreadable: Mapping[int, str] | None = None,
) -> list[ChainProblem]:
    """Compare the stored chain with the rows as they are now.

    A modified row shows as a row-hash mismatch at its transaction id; a deleted
    row as a seal without a row; an edited or removed seal as a chain break at
    that position; a row that cannot be read or hashed (``unreadable``: id → why)
    as a problem at its id, sealed or not. Returns nothing when the journal is intact.
    """
    unreadable = unreadable or {}
    problems: list[ChainProblem] = []
    previous = GENESIS_HASH
    expected_seq = 1
    for seal in seals:
        if seal.seal_seq != expected_seq:
            problems.append(
                ChainProblem(seal.seal_seq, seal.transaction_id, f"seal {expected_seq} missing")
            )
            expected_seq = seal.seal_seq
        if chain_hash(previous, seal.row_hash) != seal.chain_hash:
            problems.append(ChainProblem(seal.seal_seq, seal.transaction_id, "chain hash broken"))
        row_hash = current_row_hashes.get(seal.transaction_id)
        if seal.transaction_id in unreadable:
            problems.append(
                ChainProblem(
                    seal.seal_seq,
                    seal.transaction_id,
                    f"row unreadable: {unreadable[seal.transaction_id]}",
                )
            )
        elif row_hash is None:
            problems.append(ChainProblem(seal.seal_seq, seal.transaction_id, "row missing"))
        elif row_hash != seal.row_hash:
            problems.append(ChainProblem(seal.seal_seq, seal.transaction_id, "row modified"))
        previous = seal.chain_hash
        expected_seq += 1
    sealed_ids = {seal.transaction_id for seal in seals}
    for tx_id, reason in sorted(unreadable.items()):
        if tx_id not in sealed_ids:
            problems.append(ChainProblem(None, tx_id, f"row unreadable, not sealed: {reason}"))
    return problems
