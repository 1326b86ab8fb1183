"""Browser fixtures: one Enclave server and one chromium per test module, a fresh
browser context (no cookies) per test.

Module scope, not session: Playwright's sync API keeps an event loop running in the main
thread while it is open, and every asyncio test collected after tests/e2e would then fail
with "Cannot run the event loop while another loop is running".

Without /usr/bin/chromium the browser tests skip with one line; with ``CI=true`` that is a
failure (`make test` installs the package first: scripts/ensure-browser.sh).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from e2e_support import (
    ALICE,
    BOB,
    TIMEOUT_MS,
    EnclaveServer,
    chromium_problem,
    in_ci,
    launch_chromium,
)
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    problem = chromium_problem()
    if problem is not None:
        if in_ci():
            pytest.fail(f"CI=true but {problem}")
        pytest.skip(f"browser tests skipped: {problem}")
    with sync_playwright() as playwright:
        launched = launch_chromium(playwright)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EnclaveServer]:
    root = tmp_path_factory.mktemp("enclave")
    with EnclaveServer.start(root, operators=[ALICE, BOB]) as running:
        yield running


@pytest.fixture
def context(browser: Browser, server: EnclaveServer) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(TIMEOUT_MS)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()
