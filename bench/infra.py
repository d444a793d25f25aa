"""Infrastructure for benchmarks: DATABASE_URL/KAFKA_BOOTSTRAP_SERVERS or the embedded pair."""

import asyncio
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from folio.devstack.embedded import EmbeddedKafka, EmbeddedPostgres, free_port, remove_tree
from folio.shared.messaging import ensure_topics


@contextmanager
def bench_infra():
    """Yields (admin_database_url, bootstrap_servers)."""
    database_url = os.environ.get("DATABASE_URL")
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    workdir = Path(tempfile.mkdtemp(prefix="folio-bench-"))
    stops = []
    try:
        if not database_url:
            pg = EmbeddedPostgres(workdir / "pg", free_port(), durable=True)
            pg.start()
            stops.append(pg.stop)
            pg.create_database("folio_bench")
            database_url = pg.admin_url.rsplit("/", 1)[0] + "/folio_bench"
        if not bootstrap:
            kafka = EmbeddedKafka(free_port())
            kafka.start()
            stops.append(kafka.stop)
            bootstrap = kafka.bootstrap_servers
        asyncio.run(ensure_topics(bootstrap))
        yield database_url, bootstrap
    finally:
        for stop in reversed(stops):
            stop()
        remove_tree(workdir)


def report(name: str, results: dict, rows: list[tuple[str, str]]) -> None:
    """Machine-readable JSON line, then a short table."""
    print(json.dumps({"benchmark": name, **results}, default=str))
    width = max(len(label) for label, _ in rows)
    print()
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    print()
