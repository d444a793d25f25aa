"""Journal rules: addresses, assets, postings, overdraft, revert, hash chain."""

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from folio.ledger.domain.journal import (
    GENESIS_HASH,
    AlreadyReverted,
    InsufficientFunds,
    InvalidPosting,
    NoPostings,
    OverdraftPolicy,
    Posting,
    SealRecord,
    Transaction,
    Volumes,
    apply_postings,
    asset_for,
    balances_from_postings,
    chain_hash,
    check_revertible,
    content_hash,
    invariant_violations,
    is_valid_address,
    is_valid_asset,
    reverse_postings,
    touched_keys,
    verify_chain,
)

POLICY = OverdraftPolicy(allowed_patterns=("rotessa:clearing", "platform:*"))


@pytest.mark.parametrize(
    "address",
    [
        "world",
        "mortgages:42",
        "tenants:7:receivable",
        "rotessa:clearing",
        "invoices:INV-2026-000001",
    ],
)
def test_valid_addresses(address):
    assert is_valid_address(address)


@pytest.mark.parametrize(
    "address", ["", ":", "a:", ":a", "a::b", "a b", "tenants/7", "ü", "a:b.c", "x" * 513]
)
def test_invalid_addresses(address):
    assert not is_valid_address(address)


@pytest.mark.parametrize("asset", ["SAR/2", "KWD/3", "USD", "USDC_ETH/6", "COIN"])
def test_valid_assets(asset):
    assert is_valid_asset(asset)


@pytest.mark.parametrize("asset", ["sar/2", "SAR/", "SAR/1234567", "2SAR", "SAR-2", ""])
def test_invalid_assets(asset):
    assert not is_valid_asset(asset)


def test_asset_for_currency():
    assert asset_for("SAR", 2) == "SAR/2"
    assert asset_for("KWD", 3) == "KWD/3"


def test_postings_validation():
    with pytest.raises(NoPostings):
        apply_postings({}, [], POLICY)
    with pytest.raises(InvalidPosting):
        apply_postings({}, [Posting("world", "bank", -1, "SAR/2")], POLICY)
    with pytest.raises(InvalidPosting):
        apply_postings({}, [Posting("world", "bad address", 1, "SAR/2")], POLICY)
    with pytest.raises(InvalidPosting):
        apply_postings({}, [Posting("world", "bank", 1, "sar")], POLICY)


def test_world_may_overdraw_and_balances_follow_volumes():
    after = apply_postings({}, [Posting("world", "tenants:7", 10_000, "SAR/2")], POLICY)
    assert after[("world", "SAR/2")].balance == -10_000
    assert after[("tenants:7", "SAR/2")] == Volumes(input=10_000, output=0)


def test_overdraft_forbidden_for_ordinary_accounts():
    with pytest.raises(InsufficientFunds):
        apply_postings({}, [Posting("tenants:7", "world", 1, "SAR/2")], POLICY)
    start = {("tenants:7", "SAR/2"): Volumes(input=100, output=0)}
    after = apply_postings(start, [Posting("tenants:7", "world", 100, "SAR/2")], POLICY)
    assert after[("tenants:7", "SAR/2")].balance == 0
    assert start[("tenants:7", "SAR/2")].balance == 100  # input not mutated


def test_configured_accounts_may_overdraw_and_force_bypasses_the_check():
    apply_postings({}, [Posting("rotessa:clearing", "mortgages:42", 5, "CAD/2")], POLICY)
    apply_postings({}, [Posting("platform:fees", "bank", 5, "CAD/2")], POLICY)
    apply_postings({}, [Posting("tenants:7", "world", 5, "SAR/2")], POLICY, force=True)


def test_postings_are_checked_in_order():
    postings = [
        Posting("world", "a", 100, "SAR/2"),
        Posting("a", "b", 100, "SAR/2"),
    ]
    apply_postings({}, postings, POLICY)
    with pytest.raises(InsufficientFunds):
        apply_postings({}, list(reversed(postings)), POLICY)


def test_revert_reverses_postings():
    postings = [Posting("world", "a", 100, "SAR/2"), Posting("a", "b", 40, "SAR/2")]
    reverted = reverse_postings(postings)
    assert reverted == [Posting("b", "a", 40, "SAR/2"), Posting("a", "world", 100, "SAR/2")]
    after = apply_postings({}, postings, POLICY)
    back = apply_postings(after, reverted, POLICY)
    assert all(v.balance == 0 for v in back.values())
    check_revertible(False)
    with pytest.raises(AlreadyReverted):
        check_revertible(True)


def test_touched_keys_sorted_for_lock_order():
    keys = touched_keys([Posting("world", "b", 1, "X"), Posting("a", "world", 1, "X")])
    assert keys == [("a", "X"), ("b", "X"), ("world", "X")]


def test_randomized_invariants_hold():
    rng = random.Random(42)
    accounts = ["world", "a", "b", "c:1", "platform:x"]
    volumes: dict = {}
    applied = []
    for _ in range(500):
        posting = Posting(rng.choice(accounts), rng.choice(accounts), rng.randint(0, 50), "SAR/2")
        try:
            volumes.update(apply_postings(volumes, [posting], POLICY))
            applied.append(posting)
        except InsufficientFunds:
            pass
    assert invariant_violations(volumes, POLICY) == []
    assert balances_from_postings(applied) == {k: v for k, v in volumes.items()}


def test_invariant_checker_finds_problems():
    bad = {("a", "SAR/2"): Volumes(0, 5), ("b", "SAR/2"): Volumes(3, 0)}
    problems = invariant_violations(bad, POLICY)
    assert any("negative" in p for p in problems)
    assert any("sum to zero" in p for p in problems)


def _tx(i: int, **kw) -> Transaction:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    return Transaction(
        ledger="folio",
        transaction_id=i,
        postings=(Posting("world", f"a:{i}", 100 + i, "SAR/2"),),
        timestamp=base + timedelta(days=i),
        inserted_at=base + timedelta(days=i, hours=1),
        reference=f"ref-{i}",
        metadata={"k": str(i)},
        **kw,
    )


def _seal(txs):
    seals, previous = [], GENESIS_HASH
    for seq, tx in enumerate(txs, start=1):
        row = content_hash(tx)
        previous = chain_hash(previous, row)
        seals.append(SealRecord(seq, tx.transaction_id, row, previous))
    return seals


def test_content_hash_is_deterministic_and_sensitive():
    tx = _tx(1)
    assert content_hash(tx) == content_hash(_tx(1))
    assert content_hash(tx) != content_hash(replace(tx, metadata={"k": "2"}))
    assert content_hash(tx) != content_hash(
        replace(tx, postings=(Posting("world", "a:1", 102, "SAR/2"),))
    )
    with pytest.raises(ValueError):
        content_hash(replace(tx, timestamp=datetime(2026, 1, 1)))


def test_verify_chain_intact_and_pinpoints_modified_row():
    txs = [_tx(i) for i in range(1, 6)]
    seals = _seal(txs)
    rows = {tx.transaction_id: content_hash(tx) for tx in txs}
    assert verify_chain(seals, rows) == []
    rows[3] = content_hash(replace(txs[2], reference="tampered"))
    problems = verify_chain(seals, rows)
    assert [(p.transaction_id, p.problem) for p in problems] == [(3, "row modified")]


def test_verify_chain_detects_deleted_rows_and_edited_seals():
    txs = [_tx(i) for i in range(1, 4)]
    seals = _seal(txs)
    rows = {tx.transaction_id: content_hash(tx) for tx in txs}
    del rows[2]
    assert [(p.transaction_id, p.problem) for p in verify_chain(seals, rows)] == [
        (2, "row missing")
    ]
    rows = {tx.transaction_id: content_hash(tx) for tx in txs}
    forged = [*seals[:1], replace(seals[1], row_hash="f" * 64), seals[2]]
    problems = verify_chain(forged, rows)
    assert (2, "chain hash broken") in [(p.transaction_id, p.problem) for p in problems]
    gap = [seals[0], seals[2]]
    assert any("missing" in p.problem for p in verify_chain(gap, rows))
