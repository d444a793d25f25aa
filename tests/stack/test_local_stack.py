"""`make run`'s stack as a user meets it: start it, find the banner leading with the
gateway's one address and every address it prints answering, wait for every /readyz
through the gateway, pay an invoice through the payment simulator (which posts to the
gateway, as providers would), stop it with Ctrl-C (SIGINT), start it again on the
same data and find the books unchanged. Ports and state directory are moved away
from the defaults so a developer's running stack is left alone."""

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from folio.devstack.services import SERVICES
from folio.shared.auth import local_dev_signer, mint_token

#: Offsets from the block's base of every port the stack listens on: services (and the
#: console), the gateway, simulators, and the embedded PostgreSQL and Tansu.
STACK_OFFSETS = (1, 2, 3, 4, 5, 80, 101, 102, 103, 150, 151)
GATEWAY_OFFSET = 80  # where the gateway moves with the base (8080 is the default's)


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = open("/proc/sys/net/ipv4/ip_local_port_range").read().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port_block(size: int = 200) -> int:
    """A base B such that every stack port B+offset is free and lies *below* the kernel's
    ephemeral range. The test stops the stack and starts it again on the same ports; a
    port inside that range can meanwhile be taken as the source port of any outgoing
    connection on the machine (EADDRINUSE on restart, seen in CI). Ports below it are
    never handed out that way."""
    low, _ = _ephemeral_range()
    bases = [b for b in range(10_000, low - size, 250)]
    random.shuffle(bases)  # two stacks on one machine rarely pick the same block
    for base in bases:
        ok = True
        for offset in STACK_OFFSETS:
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", base + offset))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    pytest.fail("no free block of ports for the stack below the ephemeral range")


@pytest.fixture
def stack_env(tmp_path):
    base = free_port_block()
    env = {
        **os.environ,
        "FOLIO_STACK_DIR": str(tmp_path / "stack"),
        "FOLIO_STACK_PORT_BASE": str(base),
        "FOLIO_PG_PORT": str(base + 150),
        "FOLIO_KAFKA_PORT": str(base + 151),
    }
    for name in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "FOLIO_JWT_SECRET"):
        env.pop(name, None)
    return env, base, tmp_path


def start(env, log_path):
    log = open(log_path, "ab")
    return subprocess.Popen(
        [sys.executable, "-m", "folio.devstack", "run"], env=env, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True,
    )


def wait_ready(base: int, proc, log_path, timeout: float = 180) -> None:
    """Every service's /readyz answers 200 through the gateway."""
    deadline = time.monotonic() + timeout
    gateway = f"http://127.0.0.1:{base + GATEWAY_OFFSET}"
    pending = {s.name for s in SERVICES}
    while pending and time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"stack exited early:\n{log_path.read_text()[-4000:]}")
        for name in list(pending):
            try:
                if httpx.get(f"{gateway}/api/{name}/readyz", timeout=2).status_code == 200:
                    pending.discard(name)
            except httpx.HTTPError:
                pass
        time.sleep(0.5)
    assert not pending, f"not ready: {sorted(pending)}\n{log_path.read_text()[-4000:]}"


def banner(log_path, timeout: float = 30) -> list[str]:
    """The lines of the banner `make run` prints once everything listens."""
    deadline = time.monotonic() + timeout
    while "Ctrl-C stops" not in (text := log_path.read_text()):
        assert time.monotonic() < deadline, f"no banner:\n{text[-4000:]}"
        time.sleep(0.2)
    lines = text[text.rindex("Folio is up") :].splitlines()
    return lines[: next(i for i, line in enumerate(lines) if "Ctrl-C" in line) + 1]


def check_banner(base: int, log_path) -> None:
    """It leads with the gateway; every address it prints answers something useful."""
    gateway = f"http://127.0.0.1:{base + GATEWAY_OFFSET}"
    lines = banner(log_path)
    assert lines[0] == f"Folio is up: {gateway}/"
    addresses = re.findall(r"https?://[^\s]+", "\n".join(lines[1:]))
    assert addresses and all(a.startswith("http://127.0.0.1:") for a in addresses)
    for address in addresses:
        answer = httpx.get(address, timeout=10, follow_redirects=True)  # e.g. to sign-in
        if address == f"{gateway}/" and "console" not in {s.name for s in SERVICES}:
            assert answer.status_code == 502 and "console" in answer.text  # until it exists
        else:
            assert answer.status_code == 200, f"{address}: {answer.status_code}"
    assert "Admin token" in "\n".join(lines)


def console_admin(log_path) -> tuple[str, str]:
    """The console admin's credentials, from the last banner."""
    found = re.findall(r"sign in as (\S+)\n\s+password (\S+)", log_path.read_text())
    assert found, "the banner prints the console admin's credentials"
    return found[-1]


def console_entry_page(base: int, email: str, password: str, entry_id: str) -> str:
    """Sign in to the console through the gateway, as a person would, and open an entry."""
    with httpx.Client(base_url=f"http://127.0.0.1:{base + GATEWAY_OFFSET}", timeout=10) as browser:
        form = browser.get("/sign-in").text
        token = re.search(r'name="sign_in_token" value="([^"]+)"', form).group(1)
        signed_in = browser.post(
            "/sign-in", data={"email": email, "password": password, "sign_in_token": token}
        )
        assert signed_in.status_code == 303, signed_in.text
        page = browser.get(f"/admin/payments/{entry_id}")
        assert page.status_code == 200, page.text
        return page.text


def stop(proc, log_path=None) -> None:
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    code = proc.wait(60)
    tail = log_path.read_text(errors="replace")[-4000:] if log_path else ""
    assert code == 0, f"the stack ended with {code}:\n{tail}"


def ports_closed(base: int) -> bool:
    for offset in STACK_OFFSETS:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", base + offset)) == 0:
                return False
    return True


def test_local_stack_pays_an_invoice_and_survives_a_restart(stack_env):
    env, base, tmp_path = stack_env
    log_path = tmp_path / "stack.log"
    staff = {"Authorization": "Bearer " + mint_token("smoke", ["admin"], local_dev_signer())}
    ledger = f"http://127.0.0.1:{base + GATEWAY_OFFSET}/api/ledger"

    proc = start(env, log_path)
    try:
        wait_ready(base, proc, log_path)
        check_banner(base, log_path)
        created = httpx.post(
            f"{ledger}/entries", headers=staff, timeout=10,
            json={"entry_type": "RENT", "amount_minor": 420_000, "currency": "SAR"},
        )
        assert created.status_code == 201, created.text
        entry = created.json()
        paid = httpx.post(
            f"http://127.0.0.1:{base + 103}/pay", timeout=30,
            json={"provider": "tabby", "invoice_number": entry["invoice_number"],
                  "amount": "4200.00", "currency": "SAR"},
        )
        assert paid.status_code == 200, paid.text

        def status():
            got = httpx.get(f"{ledger}/entries/{entry['entry_id']}", headers=staff, timeout=10)
            return got.json()

        deadline = time.monotonic() + 60
        while status()["status"] != "PAID" and time.monotonic() < deadline:
            time.sleep(0.5)
        before = status()
        assert before["status"] == "PAID" and before["paid_minor"] == 420_000
        transactions = httpx.get(
            f"{ledger}/v2/folio/transactions", headers=staff, timeout=10,
            params={"account": f"invoices:{entry['invoice_number']}"},
        ).json()["cursor"]["data"]
        assert len(transactions) == 1
        # the payment went through the gateway, and the gateway wrote it down
        access_log = tmp_path / "stack" / "logs" / "gateway-access.log"
        requests = [json.loads(line)["request"] for line in access_log.read_text().splitlines()]
        assert any(r["uri"].startswith("/api/webhooks/tabby") for r in requests)
        email, password = console_admin(log_path)
        assert "created now" in log_path.read_text()
        page = console_entry_page(base, email, password, entry["entry_id"])
        assert 'id="entry-status">PAID<' in page and entry["invoice_number"] in page
    finally:
        stop(proc, log_path)
    assert ports_closed(base), "a process outlived Ctrl-C"

    # Same data directory, broker empty again: nothing lost, nothing doubled.
    proc = start(env, log_path)
    try:
        wait_ready(base, proc, log_path)
        time.sleep(3)  # relays republish what the empty broker lost; consumers dedupe
        after = httpx.get(f"{ledger}/entries/{entry['entry_id']}", headers=staff, timeout=10)
        assert after.json()["status"] == "PAID"
        assert after.json()["version"] == before["version"]
        again = httpx.get(
            f"{ledger}/v2/folio/transactions", headers=staff, timeout=10,
            params={"account": f"invoices:{entry['invoice_number']}"},
        ).json()["cursor"]["data"]
        assert len(again) == 1
        assert console_admin(log_path) == (email, password)  # created once, kept
        page = console_entry_page(base, email, password, entry["entry_id"])
        assert 'id="entry-status">PAID<' in page
    finally:
        stop(proc, log_path)
    assert ports_closed(base)


def test_make_demo_loads_a_portfolio_once(stack_env):
    """`make demo` on a fresh stack: the portfolio the README's tour shows, through the
    public APIs only; a second run adds nothing; the books balance after it."""
    env, base, tmp_path = stack_env
    log_path = tmp_path / "stack.log"
    staff = {"Authorization": "Bearer " + mint_token("smoke", ["admin"], local_dev_signer())}
    gateway = f"http://127.0.0.1:{base + GATEWAY_OFFSET}"
    demo = [sys.executable, "-m", "folio.devstack", "demo"]
    proc = start(env, log_path)
    try:
        wait_ready(base, proc, log_path)
        first = subprocess.run(demo, env=env, capture_output=True, text=True, timeout=600)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "60  units" in first.stdout and "3  buildings" in first.stdout, first.stdout
        second = subprocess.run(demo, env=env, capture_output=True, text=True, timeout=600)
        assert second.returncode == 0, second.stdout + second.stderr
        assert "nothing added" in second.stdout, second.stdout

        def get(path, **params):
            answer = httpx.get(f"{gateway}{path}", headers=staff, params=params, timeout=30)
            assert answer.status_code == 200, answer.text
            return answer.json()

        buildings = get("/api/registry/buildings", q="DEMO-")["data"]
        assert sorted(b["timezone"] for b in buildings) == ["Asia/Dubai", *["Asia/Riyadh"] * 2]
        units = get("/api/registry/units", limit=500)["data"]
        assert {u["status"] for u in units} == {"AVAILABLE", "BLOCKED", "MAINTENANCE"}
        assert len(units) == 60
        portfolio = get("/api/registry/kpis/portfolio")["portfolio"]
        for figures in portfolio:  # SAR and AED: collected this year, something overdue
            assert figures["collected_ytd_minor"] > 0 and figures["overdue_count"] > 0
        [backfill] = get("/api/rotessa/backfills")
        assert backfill["status"] == "COMPLETED" and backfill["metrics"]["confirmed"] >= 20
        assert get("/api/ledger/journal/invariants")["ok"] is True
        refunded = get("/api/ledger/entries", entry_type="REFUND", page_size=200)["data"]
        assert refunded  # some payments were refunded through their provider
    finally:
        stop(proc, log_path)
    assert ports_closed(base)
