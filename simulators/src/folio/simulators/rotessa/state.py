"""The simulator's data: customers, schedules, transactions, generated from a seed.

Everything derives from ``seed`` and ``today``, so two simulators built with the
same pair serve identical bytes. Tests mutate it through :class:`RotessaSimulator`
(or the ``/_sim`` HTTP surface): add transactions, move a transaction along its
lifecycle (e.g. Approved → Chargeback), add schedules with many transactions.
"""

import bisect
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from folio.simulators.rotessa.dates import FREQUENCIES, occurrence, unpadded

STATUSES = ("Future", "Pending", "Approved", "Declined", "Chargeback")
STATUS_REASONS = (
    "NSF",
    "Payment Stopped/Recalled",
    "Edit Reject",
    "Funds Not Cleared",
    "Account Closed",
    "Invalid/Incorrect Account No.",
    "Account Not Found",
    "Account Frozen",
    "Agreement Revoked",
    "No Debit Allowed",
)
#: Allowed status moves (Rotessa's lifecycle).
TRANSITIONS = {
    "Future": {"Pending"},
    "Pending": {"Approved", "Declined"},
    "Approved": {"Chargeback"},
    "Declined": set(),
    "Chargeback": set(),
}
_FIRST = ("Amira", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas")
_LAST = ("Tremblay", "Roy", "Gagnon", "Singh", "Wong", "MacDonald", "Haddad", "Novak", "Okafor")
_BANKS = ("Royal Bank of Canada", "TD Canada Trust", "Scotiabank", "BMO", "Desjardins")
# Rotessa answers in Central time in its docs; any fixed offset keeps output deterministic.
_ROTESSA_OFFSET = timedelta(hours=-6)


class SimulatorError(ValueError):
    """A control request the simulator refuses (becomes a 404/422 error envelope)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _stamp(moment: datetime) -> str:
    local = moment.astimezone(UTC) + _ROTESSA_OFFSET
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}-06:00"


def _money(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


@dataclass
class SimTransaction:
    id: int
    schedule_id: int | None
    customer_id: int
    amount_minor: int
    process_date: date
    status: str
    status_reason: str | None
    created_at: datetime
    updated_at: datetime
    custom_identifier: str | None = None
    comment: str | None = None
    _rendered: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    def settlement_date(self) -> date | None:
        if self.status in ("Approved", "Chargeback"):
            return self.process_date + timedelta(days=2)
        return None

    def to_json(self) -> dict[str, Any]:
        if self._rendered is None:
            settlement = self.settlement_date()
            earliest = self.process_date + timedelta(days=5)
            # A third of the rows carry Rotessa's unpadded dates ("2019-03-7").
            loose = self.id % 3 == 0
            self._rendered = {
                "id": self.id,
                "account_number": "*****21",
                "amount": _money(self.amount_minor),
                "comment": self.comment,
                "created_at": _stamp(self.created_at),
                "custom_identifier": self.custom_identifier,
                "customer_id": self.customer_id,
                "earliest_approval_date": unpadded(earliest) if loose else earliest.isoformat(),
                "institution_number": "*****",
                "process_date": self.process_date.isoformat(),
                "settlement_date": (
                    None
                    if settlement is None
                    else unpadded(settlement)
                    if loose
                    else settlement.isoformat()
                ),
                "status": self.status,
                "status_reason": self.status_reason,
                "transaction_number": f"INV{self.id}",
                "transaction_schedule_id": self.schedule_id,
                "transit_number": "*****",
                "updated_at": _stamp(self.updated_at),
            }
        return self._rendered


@dataclass
class SimSchedule:
    id: int
    customer_id: int
    amount_minor: int
    frequency: str
    process_date: date
    installments: int | None
    comment: str | None
    created_at: datetime
    updated_at: datetime

    def to_json(self, next_process_date: date | None, transactions: list[dict]) -> dict:
        return {
            "id": self.id,
            "amount": _money(self.amount_minor),
            "comment": self.comment,
            "created_at": _stamp(self.created_at),
            "frequency": self.frequency,
            "installments": self.installments,
            "next_process_date": next_process_date.isoformat() if next_process_date else None,
            "process_date": self.process_date.isoformat(),
            "updated_at": _stamp(self.updated_at),
            "financial_transactions": transactions,
        }


@dataclass
class SimCustomer:
    id: int
    name: str
    email: str
    custom_identifier: str
    identifier: str
    bank_name: str
    customer_type: str
    created_at: datetime
    active: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "active": self.active,
            "bank_name": self.bank_name,
            "created_at": _stamp(self.created_at),
            "custom_identifier": self.custom_identifier,
            "customer_type": self.customer_type,
            "email": self.email,
            "home_phone": "(204) 555 5555",
            "identifier": self.identifier,
            "name": self.name,
            "phone": "(204) 555 4444",
            "updated_at": _stamp(self.created_at),
        }


class RotessaSimulator:
    """In-memory Rotessa account. Not thread-safe: one event loop serves it."""

    def __init__(
        self,
        seed: int = 0,
        *,
        today: date | None = None,
        customers: int = 8,
        max_embedded_transactions: int = 100,
        id_offset: int = 0,
    ) -> None:
        self.seed = seed
        #: Added to every id, so several simulators can feed one shared database in tests.
        self.id_offset = id_offset
        self.today = today or datetime.now(UTC).date()
        self.max_embedded_transactions = max_embedded_transactions
        self._customer_count = customers
        self.reset()

    # --- building -----------------------------------------------------------

    def reset(self) -> None:
        self.customers: dict[int, SimCustomer] = {}
        self.schedules: dict[int, SimSchedule] = {}
        self.transactions: dict[int, SimTransaction] = {}
        self._rng = random.Random(self.seed)  # noqa: S311 - seeded, reproducible data
        self._next_customer_id = self.id_offset + 181 + self.seed % 97
        self._next_schedule_id = self.id_offset + 5000 + (self.seed % 89) * 10
        self._next_transaction_id = self.id_offset + 100_000 + (self.seed % 83) * 1000
        self._ordered: list[SimTransaction] | None = None
        self._ordered_keys: list[tuple[date, int]] = []
        self._query_cache: dict[tuple, list[SimTransaction]] = {}
        self.version = 0
        for _ in range(self._customer_count):
            self._generate_customer()

    def _clock(self, day: date, minute: int = 0) -> datetime:
        return datetime.combine(day, time(15, 0), tzinfo=UTC) + timedelta(minutes=minute)

    def _generate_customer(self) -> None:
        rng = self._rng
        frequency = rng.choices(FREQUENCIES[1:], weights=(2, 2, 10, 1, 1, 1, 1))[0]
        first = self.today - timedelta(days=rng.randint(45, 720))
        customer = self.add_customer(
            name=f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
            created_on=first - timedelta(days=rng.randint(3, 20)),
        )
        self.add_schedule(
            customer_id=customer.id,
            amount_minor=rng.randint(900, 4200) * 100 + rng.choice((0, 0, 50, 99)),
            frequency=frequency,
            process_date=first,
            installments=rng.choice((None, None, 240, 300)),
            generate=True,
        )

    def add_customer(self, *, name: str, created_on: date | None = None) -> SimCustomer:
        customer_id = self._next_customer_id
        self._next_customer_id += 1
        slug = "".join(ch for ch in name if ch.isalnum())
        customer = SimCustomer(
            id=customer_id,
            name=name,
            email=f"{slug.lower()}{customer_id}@example.test",
            custom_identifier=f"MTG-{customer_id}",
            identifier=f"{slug}{customer_id:04d}",
            bank_name=_BANKS[customer_id % len(_BANKS)],
            customer_type="Personal",
            created_at=self._clock(created_on or self.today),
        )
        self.customers[customer_id] = customer
        return customer

    def add_schedule(
        self,
        *,
        customer_id: int,
        amount_minor: int,
        frequency: str = "Monthly",
        process_date: date,
        installments: int | None = None,
        comment: str | None = "Mortgage payment",
        generate: bool = False,
    ) -> SimSchedule:
        """Add a schedule; with ``generate`` its past and next transactions are created
        (older ones mostly Approved, some Declined or charged back; recent ones Pending;
        the next one Future)."""
        if customer_id not in self.customers:
            raise SimulatorError(404, "not_found", f"customer {customer_id} not found")
        if frequency not in FREQUENCIES:
            raise SimulatorError(422, "invalid_frequency", f"unknown frequency {frequency!r}")
        if amount_minor <= 0:
            raise SimulatorError(422, "invalid_amount", "amount must be positive")
        schedule = SimSchedule(
            id=self._next_schedule_id,
            customer_id=customer_id,
            amount_minor=amount_minor,
            frequency=frequency,
            process_date=process_date,
            installments=installments,
            comment=comment,
            created_at=self._clock(process_date - timedelta(days=3)),
            updated_at=self._clock(process_date - timedelta(days=3)),
        )
        self._next_schedule_id += 1
        self.schedules[schedule.id] = schedule
        if generate:
            self._generate_transactions(schedule)
        self._touch()
        return schedule

    def _generate_transactions(self, schedule: SimSchedule) -> None:
        rng = self._rng
        n = 0
        while schedule.installments is None or n < schedule.installments:
            day = occurrence(schedule.process_date, schedule.frequency, n)
            if day is None:
                break
            n += 1
            age = (self.today - day).days
            reason = None
            if age < 0:
                status = "Future"
            elif age < 3:
                status = "Pending"
            else:
                roll = rng.random()
                status = "Declined" if roll < 0.06 else "Chargeback" if roll < 0.08 else "Approved"
                if status != "Approved":
                    reason = rng.choice(STATUS_REASONS[:4])
            updated = self._clock(day, 0) + timedelta(days=0 if age < 3 else 2)
            if status == "Chargeback":
                updated += timedelta(days=rng.randint(3, 30))
            self._insert(
                SimTransaction(
                    id=self._take_transaction_id(),
                    schedule_id=schedule.id,
                    customer_id=schedule.customer_id,
                    amount_minor=schedule.amount_minor,
                    process_date=day,
                    status=status,
                    status_reason=reason,
                    created_at=self._clock(day - timedelta(days=3)),
                    updated_at=min(updated, self._clock(self.today)),
                    custom_identifier=self.customers[schedule.customer_id].custom_identifier,
                )
            )
            if age < 0:
                break  # only the next Future debit exists, as in Rotessa

    def _take_transaction_id(self) -> int:
        tid = self._next_transaction_id
        self._next_transaction_id += 1
        return tid

    def _insert(self, transaction: SimTransaction) -> None:
        self.transactions[transaction.id] = transaction
        self._touch()

    def _touch(self) -> None:
        self.version += 1
        self._ordered = None
        self._query_cache.clear()

    # --- mutations for tests ------------------------------------------------

    def add_transaction(
        self,
        *,
        schedule_id: int,
        process_date: date,
        status: str = "Approved",
        amount_minor: int | None = None,
        status_reason: str | None = None,
    ) -> SimTransaction:
        schedule = self.schedules.get(schedule_id)
        if schedule is None:
            raise SimulatorError(404, "not_found", f"transaction schedule {schedule_id} not found")
        if status not in STATUSES:
            raise SimulatorError(422, "invalid_status", f"unknown status {status!r}")
        now = datetime.now(UTC)
        transaction = SimTransaction(
            id=self._take_transaction_id(),
            schedule_id=schedule_id,
            customer_id=schedule.customer_id,
            amount_minor=amount_minor if amount_minor is not None else schedule.amount_minor,
            process_date=process_date,
            status=status,
            status_reason=status_reason,
            created_at=now,
            updated_at=now,
            custom_identifier=self.customers[schedule.customer_id].custom_identifier,
        )
        self._insert(transaction)
        return transaction

    def add_bulk_transactions(
        self,
        *,
        schedule_id: int,
        count: int,
        first_date: date,
        per_day: int = 1,
        status: str = "Approved",
    ) -> tuple[int, int]:
        """Many transactions at once (benchmarks): ``per_day`` per process date from
        ``first_date``. Returns the first and last transaction ids."""
        schedule = self.schedules.get(schedule_id)
        if schedule is None:
            raise SimulatorError(404, "not_found", f"transaction schedule {schedule_id} not found")
        if count <= 0 or per_day <= 0:
            raise SimulatorError(422, "invalid_count", "count and per_day must be positive")
        customer = self.customers[schedule.customer_id]
        first_id = self._next_transaction_id
        for i in range(count):
            day = first_date + timedelta(days=i // per_day)
            stamp = self._clock(day)
            self.transactions[self._next_transaction_id] = SimTransaction(
                id=self._next_transaction_id,
                schedule_id=schedule_id,
                customer_id=schedule.customer_id,
                amount_minor=schedule.amount_minor,
                process_date=day,
                status=status,
                status_reason=None,
                created_at=stamp,
                updated_at=stamp,
                custom_identifier=customer.custom_identifier,
            )
            self._next_transaction_id += 1
        self._touch()
        return first_id, self._next_transaction_id - 1

    def set_status(
        self, transaction_id: int, status: str, status_reason: str | None = None
    ) -> SimTransaction:
        """Move a transaction along Rotessa's lifecycle (e.g. Approved → Chargeback)."""
        transaction = self.transactions.get(transaction_id)
        if transaction is None:
            raise SimulatorError(404, "not_found", f"transaction {transaction_id} not found")
        if status not in TRANSITIONS.get(transaction.status, set()):
            raise SimulatorError(
                422,
                "invalid_transition",
                f"transaction {transaction_id} cannot go from {transaction.status} to {status}",
            )
        if status in ("Declined", "Chargeback") and status_reason is None:
            status_reason = "NSF"
        transaction.status = status
        transaction.status_reason = status_reason
        transaction.updated_at = datetime.now(UTC)
        transaction._rendered = None
        self._touch()
        return transaction

    # --- queries -------------------------------------------------------------

    def _order(self) -> list[SimTransaction]:
        if self._ordered is None:
            self._ordered = sorted(self.transactions.values(), key=lambda t: (t.process_date, t.id))
            self._ordered_keys = [(t.process_date, t.id) for t in self._ordered]
        return self._ordered

    def report(
        self, *, start_date: date, end_date: date | None, status: str, page: int, page_size: int
    ) -> list[dict[str, Any]]:
        """One page of the transaction report, ordered by process date then id."""
        key = (start_date, end_date, status)
        matching = self._query_cache.get(key)
        if matching is None:
            ordered = self._order()
            lo = bisect.bisect_left(self._ordered_keys, (start_date, -1))
            hi = (
                len(ordered)
                if end_date is None
                else bisect.bisect_right(self._ordered_keys, (end_date, 1 << 62))
            )
            matching = ordered[lo:hi]
            if status != "All":
                matching = [t for t in matching if t.status == status]
            self._query_cache[key] = matching
        start = (page - 1) * page_size
        return [t.to_json() for t in matching[start : start + page_size]]

    def next_process_date(self, schedule: SimSchedule) -> date | None:
        upcoming = [
            t.process_date
            for t in self.transactions.values()
            if t.schedule_id == schedule.id and t.status == "Future"
        ]
        return min(upcoming) if upcoming else None

    def schedule_detail(self, schedule_id: int) -> dict[str, Any]:
        schedule = self.schedules[schedule_id]
        own = sorted(
            (t for t in self.transactions.values() if t.schedule_id == schedule_id),
            key=lambda t: (t.process_date, t.id),
        )
        embedded = [t.to_json() for t in own[-self.max_embedded_transactions :]]
        return schedule.to_json(self.next_process_date(schedule), embedded)

    def customer_list(self) -> list[dict[str, Any]]:
        return [c.to_json() for c in sorted(self.customers.values(), key=lambda c: c.id)]

    def customer_detail(self, customer_id: int) -> dict[str, Any]:
        customer = self.customers.get(customer_id)
        if customer is None:
            raise SimulatorError(404, "not_found", f"customer {customer_id} not found")
        own = sorted(
            (t for t in self.transactions.values() if t.customer_id == customer_id),
            key=lambda t: (t.process_date, t.id),
        )
        embedded = [t.to_json() for t in own[-self.max_embedded_transactions :]]
        schedules = []
        for schedule in sorted(self.schedules.values(), key=lambda s: s.id):
            if schedule.customer_id != customer_id:
                continue
            mine = [row for row in embedded if row["transaction_schedule_id"] == schedule.id]
            schedules.append(schedule.to_json(self.next_process_date(schedule), mine))
        return {
            **customer.to_json(),
            "address": {
                "address_1": f"{customer_id} Main Street",
                "address_2": None,
                "city": "Toronto",
                "id": customer_id,
                "postal_code": "M1B 0B7",
                "province_code": "ON",
            },
            "transaction_schedules": schedules,
            "financial_transactions": embedded,
        }
