"""Ledger settings (environment, prefix ``FOLIO_``)."""

from folio.shared.settings import ServiceSettings


class LedgerSettings(ServiceSettings):
    service_name: str = "ledger"
    db_schema: str = "ledger"
    http_port: int = 8101
    #: The journal ledger receivables and Rotessa collections are posted to.
    default_ledger: str = "folio"
    #: Accounts besides ``world`` that may go negative (glob patterns).
    overdraft_accounts: tuple[str, ...] = ("rotessa:clearing",)
    #: Largest body of ``POST /api/ledger/v2/{ledger}/_bulk`` (10,000 elements with
    #: metadata; every other route keeps ``max_body_bytes``).
    bulk_max_body_bytes: int = 16 * 1_048_576
    #: Seconds between hash-chain sealing runs.
    seal_interval_seconds: float = 2.0
    #: Records per consumer batch (one database transaction each). Larger than the
    #: shared default: a backfill's collections all arrive on one partition, and
    #: each batch pays a fixed cost (round trips, one commit) whatever its size.
    consumer_batch_size: int = 2_000
