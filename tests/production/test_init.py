"""`python -m folio.devstack init` makes the topics as the cluster needs them (partitions and
copies from the environment: 1 copy for compose's single broker, 3 in a cluster) before it
migrates anything."""

from folio.devstack import stack


def run_init(monkeypatch, **env) -> list:
    calls = []

    async def fake_ensure_topics(bootstrap, **options):
        calls.append(("topics", bootstrap, options))

    monkeypatch.setattr(stack, "ensure_topics", fake_ensure_topics)
    monkeypatch.setattr(stack, "SERVICES", ())  # topics only: no database here
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@db/folio")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    for key in ("FOLIO_KAFKA_REPLICATION_FACTOR", "FOLIO_KAFKA_PARTITIONS"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    stack.init_from_environment()
    return calls


def test_init_keeps_one_copy_and_the_default_partitions_for_a_single_broker(monkeypatch):
    assert run_init(monkeypatch) == [("topics", "kafka:9092", {"replication_factor": 1})]


def test_init_makes_topics_with_the_clusters_partitions_and_copies(monkeypatch):
    calls = run_init(monkeypatch, FOLIO_KAFKA_REPLICATION_FACTOR="3", FOLIO_KAFKA_PARTITIONS="12")
    assert calls == [("topics", "kafka:9092", {"replication_factor": 3, "partitions": 12})]
