"""Browser tests: Debian's Chromium (headless) driven by Playwright against the real
console and the real ledger, each under uvicorn on the session's embedded PostgreSQL.

A failing test keeps a screenshot of its page under ``.local/browser-failures/``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from folio.console.app import create_app
from folio.console.testing import ServerThread
from folio.devstack.services import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
FAILURES = REPO_ROOT / ".local" / "browser-failures"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="package")
def console_server(console_settings):
    with ServerThread(create_app(console_settings)) as server:
        yield server


@pytest.fixture(scope="package")
async def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make install` (installs Debian's chromium)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        await browser.close()


@pytest.fixture
async def page(browser, console_server, request):
    context = await browser.new_context(
        viewport={"width": 1280, "height": 800}, base_url=console_server.url,
        accept_downloads=True,
    )  # fmt: skip
    page = await context.new_page()
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        FAILURES.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.nodeid)[-150:]
        path = FAILURES / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        print(f"\nscreenshot of the failed page: {path}")
    await context.close()
