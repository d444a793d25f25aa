"""The group-commit writer's unit of work on bare asyncpg connections.

Intake's hot path is a handful of fixed statements per batch. Through the
shared SQLAlchemy engine each batch also paid a pre-ping round trip at
checkout, the session and greenlet machinery around every statement, and a
rollback-on-return; here a small asyncpg pool of connections that only ever
run these statements, inside explicit transactions, does the same writes:
``BEGIN``, the repository's statements, the outbox rows, ``COMMIT``.

The guarantees are the shared unit of work's: the deliveries, their facts,
progress and outbox rows commit together or not at all (outbox rows are
built by the shared ``UnitOfWork.emit`` and written in emit order), and a
caller learns its outcome only after ``COMMIT`` returned. A connection that
broke is dropped by the pool; an unreachable database surfaces as
:class:`DatabaseUnavailable` (a ``ConnectionError``), which intake answers 503.
"""

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any, Self

import asyncpg

from folio.shared.settings import to_plain_url
from folio.shared.uow import UnitOfWork, copy_outbox_rows
from folio.webhooks.adapters.repositories import DeliveriesRepository

#: asyncpg failures that mean "the database is not there", not "the data is wrong".
_UNREACHABLE = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,  # includes a connection that was closed under us
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08
    asyncpg.OperatorInterventionError,  # class 57: shutting down, cannot connect now
    asyncpg.InsufficientResourcesError,  # class 53: too many connections, disk full
)


class DatabaseUnavailable(ConnectionError):
    """The delivery could not be stored because the database is unreachable."""


class DirectConnections:
    """A small asyncpg pool in the service schema, created on first use."""

    def __init__(self, database_url: str, schema: str, max_size: int = 4) -> None:
        self._dsn = to_plain_url(database_url)
        self._schema = schema
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._creating = asyncio.Lock()

    async def _init(self, connection: asyncpg.Connection) -> None:
        # jsonb in as the JSON text the repository passes, out as Python values; binary
        # format (version byte 1 + text) so the shared outbox COPY can encode it too.
        await connection.set_type_codec(
            "jsonb",
            encoder=lambda text: b"\x01" + text.encode(),
            decoder=lambda data: json.loads(data[1:]),
            schema="pg_catalog",
            format="binary",
        )

    @staticmethod
    async def _keep(connection: asyncpg.Connection) -> None:
        """No reset round trip on release: these connections never change session state
        (no SET, LISTEN, cursors or advisory locks), and every transaction ends in
        COMMIT or ROLLBACK before release."""

    async def pool(self) -> asyncpg.Pool:
        async with self._creating:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._dsn,
                    min_size=0,
                    max_size=self._max_size,
                    init=self._init,
                    reset=self._keep,
                    timeout=10,
                    server_settings={"search_path": self._schema, "timezone": "UTC"},
                )
            return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


class DirectDeliveriesRepository(DeliveriesRepository):
    """The intake hot path of :class:`DeliveriesRepository` on an asyncpg connection."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection

    async def _fetch(self, sql: str, *params: Any) -> Sequence[Mapping[str, Any]]:
        return await self.connection.fetch(sql, *params)

    async def _executemany(self, sql: str, rows: list[tuple]) -> None:
        await self.connection.executemany(sql, rows)


class DirectIntakeUnitOfWork(UnitOfWork):
    """One transaction on one pooled connection; only what ``record_deliveries`` uses."""

    deliveries: DirectDeliveriesRepository

    def __init__(self, connections: DirectConnections, *, producer: str) -> None:
        super().__init__(None, producer=producer)  # type: ignore[arg-type]  # no sessions
        self._connections = connections
        self._pool: asyncpg.Pool | None = None
        self._connection: asyncpg.Connection | None = None

    async def __aenter__(self) -> Self:
        self._outbox_rows = []
        self.emitted = []
        self.committed = False
        try:
            self._pool = await self._connections.pool()
            self._connection = await self._pool.acquire()
            await self._connection.execute("BEGIN")
        except _UNREACHABLE as exc:
            await self._release()
            raise DatabaseUnavailable(repr(exc)) from exc
        except BaseException:
            await self._release()
            raise
        self.deliveries = DirectDeliveriesRepository(self._connection)
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        try:
            if not self.committed and self._connection is not None:
                try:
                    await self._connection.execute("ROLLBACK")
                except Exception:
                    # A connection that cannot roll back is broken: never reuse it.
                    self._connection.terminate()
        finally:
            await self._release()
        if isinstance(exc, _UNREACHABLE) and not isinstance(exc, DatabaseUnavailable):
            raise DatabaseUnavailable(repr(exc)) from exc

    async def _release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and self._pool is not None:
            await self._pool.release(connection)

    async def commit(self) -> None:
        assert self._connection is not None
        if self._outbox_rows:
            await self._write_outbox(self._outbox_rows)
            self._outbox_rows = []
        await self._connection.execute("COMMIT")
        self.committed = True

    async def _write_outbox(self, rows: list[dict[str, Any]]) -> None:
        assert self._connection is not None
        await copy_outbox_rows(self._connection, rows)
