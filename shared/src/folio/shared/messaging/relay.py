"""Outbox relay: publishes committed outbox rows to Kafka, in id order, at least once.

One relay is active per service schema (a Postgres advisory lock); others wait
as hot standbys. It wakes on LISTEN/NOTIFY (the outbox trigger) and polls as a
fallback. Rows are marked published with their partition and offset only after
the broker acknowledged them, so a crash in between republishes (consumers are
idempotent). When the broker's log for a partition is shorter than what was
published (a memory broker restarted empty), the missing tail is republished.
"""

import asyncio
import zlib
from collections import defaultdict

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from folio.shared.messaging.broker import ensure_topics
from folio.shared.observability import EVENTS_PUBLISHED
from folio.shared.settings import to_plain_url

log = structlog.get_logger(__name__)


class OutboxRelay:
    def __init__(
        self,
        *,
        database_url: str,
        schema: str,
        bootstrap_servers: str,
        service_name: str,
        batch_size: int = 1000,
        poll_interval: float = 1.0,
        retention_seconds: float = 7 * 24 * 3600,
    ) -> None:
        self.database_url = to_plain_url(database_url)
        self.schema = schema
        self.bootstrap_servers = bootstrap_servers
        self.service_name = service_name
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        #: Published rows are kept this long (to republish after a broker data loss),
        #: then pruned so the outbox stays small.
        self.retention_seconds = retention_seconds
        self._last_prune = 0.0
        self.lock_id = zlib.crc32(f"folio-outbox:{schema}".encode())
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.active = False
        #: Test hook: called after publishing a batch, before marking it sent.
        self.after_publish_hook = None

    def start(self) -> asyncio.Task:
        self._task = asyncio.create_task(self.run(), name=f"outbox-relay-{self.schema}")
        return self._task

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: S110 - shutting down
                pass

    async def run(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                await self._run_once()
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.active = False
                log.warning("outbox.relay.error", error=repr(exc), retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _run_once(self) -> None:
        conn = await asyncpg.connect(
            self.database_url, server_settings={"search_path": self.schema}
        )
        producer: AIOKafkaProducer | None = None
        try:
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", self.lock_id):
                if self._stopping.is_set():
                    return
                await asyncio.sleep(self.poll_interval)
            await conn.add_listener(f"{self.schema}_outbox", lambda *_: self._wake.set())
            await ensure_topics(self.bootstrap_servers)
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap_servers.split(","),
                client_id=f"{self.service_name}-outbox",
                acks="all",
                enable_idempotence=False,
                linger_ms=2,
                max_batch_size=262144,
            )
            await producer.start()
            await self.requeue_lost(conn)
            self.active = True
            log.info("outbox.relay.active", schema=self.schema)
            while not self._stopping.is_set():
                await self.prune(conn)
                published = await self.publish_batch(conn, producer)
                if published < self.batch_size:
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(), self.poll_interval)
                    except TimeoutError:
                        pass
        finally:
            self.active = False
            if producer is not None:
                await producer.stop()
            await conn.close()

    async def publish_batch(self, conn: asyncpg.Connection, producer: AIOKafkaProducer) -> int:
        rows = await conn.fetch(
            "SELECT id, topic, key, value, headers::text AS headers FROM outbox"
            " WHERE published_at IS NULL ORDER BY id LIMIT $1",
            self.batch_size,
        )
        if not rows:
            return 0
        futures = []
        for row in rows:
            headers = _headers(row["headers"])
            futures.append(
                await producer.send(
                    row["topic"],
                    value=bytes(row["value"]),
                    key=row["key"].encode() if row["key"] is not None else None,
                    headers=headers,
                )
            )
        results = await asyncio.gather(*futures)
        if self.after_publish_hook is not None:
            await self.after_publish_hook(rows)
        await conn.execute(
            'UPDATE outbox o SET published_at = now(), partition = m.partition, "offset" = m.off'
            " FROM unnest($1::bigint[], $2::int[], $3::bigint[]) AS m(id, partition, off)"
            " WHERE o.id = m.id",
            [row["id"] for row in rows],
            [md.partition for md in results],
            [md.offset for md in results],
        )
        EVENTS_PUBLISHED.labels(self.service_name).inc(len(rows))
        return len(rows)

    async def prune(self, conn: asyncpg.Connection, *, force: bool = False) -> int:
        """Delete published rows older than the retention, at most once a minute."""
        now = asyncio.get_running_loop().time()
        if not force and now - self._last_prune < 60:
            return 0
        self._last_prune = now
        status = await conn.execute(
            "DELETE FROM outbox WHERE published_at IS NOT NULL"
            " AND published_at < now() - make_interval(secs => $1)",
            float(self.retention_seconds),
        )
        return int(status.split()[-1])

    async def requeue_lost(self, conn: asyncpg.Connection) -> int:
        """Mark unpublished again what the broker no longer has (log shorter than our offsets)."""
        positions = await conn.fetch(
            'SELECT topic, partition, max("offset") AS last FROM outbox'
            " WHERE published_at IS NOT NULL AND partition IS NOT NULL GROUP BY topic, partition"
        )
        if not positions:
            return 0
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap_servers.split(","))
        await consumer.start()
        try:
            partitions = [TopicPartition(p["topic"], p["partition"]) for p in positions]
            end_offsets = await consumer.end_offsets(partitions)
        finally:
            await consumer.stop()
        lost: dict[tuple[str, int], int] = defaultdict(int)
        for p in positions:
            end = end_offsets.get(TopicPartition(p["topic"], p["partition"]), 0)
            if end <= p["last"]:
                lost[(p["topic"], p["partition"])] = end
        requeued = 0
        for (topic, partition), end in lost.items():
            status = await conn.execute(
                'UPDATE outbox SET published_at = NULL, partition = NULL, "offset" = NULL'
                ' WHERE topic = $1 AND partition = $2 AND "offset" >= $3',
                topic,
                partition,
                end,
            )
            requeued += int(status.split()[-1])
        if requeued:
            log.warning("outbox.relay.requeued_lost", rows=requeued)
        return requeued


def _headers(raw: str | None) -> list[tuple[str, bytes]]:
    import json

    if not raw:
        return []
    return [(k, str(v).encode()) for k, v in json.loads(raw).items()]
