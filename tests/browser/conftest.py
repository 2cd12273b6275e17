"""Real-browser fixtures: Debian's Chromium driven by Playwright, and a Celery worker
thread on an in-memory broker so audits run in the background as in production.

Every context a test opens (the `page` fixture's, or its own through `browser`) records
the pages it loads; before it closes, each is loaded again and checked at 1366 and 390
px for horizontal overflow and axe-core's colour contrast (tests/browser/layout.py).
"""
from __future__ import annotations

import os
import shutil
import uuid

import pytest

from tests.browser.layout import PageRecorder

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


class CheckedContext:
    """A browser context whose close() first checks the layout of every page it loaded."""

    def __init__(self, context, origin: str):
        self._context = context
        self._recorder = PageRecorder(context, origin)

    def __getattr__(self, name):
        return getattr(self._context, name)

    def close(self, *args, **kwargs):
        try:
            problems = self._recorder.check_all(self._context)
        finally:
            self._context.close(*args, **kwargs)
        assert not problems, "Layout problems:\n" + "\n".join(problems)


class CheckedBrowser:
    """The session's browser; contexts opened with a base_url come back checked."""

    def __init__(self, browser):
        self._browser = browser

    def __getattr__(self, name):
        return getattr(self._browser, name)

    def new_context(self, *args, **kwargs):
        context = self._browser.new_context(*args, **kwargs)
        return CheckedContext(context, kwargs["base_url"]) if kwargs.get("base_url") else context


@pytest.fixture(scope="session")
def browser():
    if not shutil.which("chromium") and not os.path.exists(CHROMIUM):
        pytest.fail("Browser tests need Debian's chromium (apt-get install chromium); `make test` installs it.")
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs a loop
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield CheckedBrowser(browser)
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


@pytest.fixture
def celery_worker_thread(transactional_db):
    """A real worker thread on the configured broker (Celery's filesystem broker in tests),
    consuming a queue of its own so no message from another run can reach it."""
    from celery.contrib.testing.worker import start_worker
    from django.test import override_settings

    from auditplatform.celery import app

    saved = {k: app.conf[k] for k in ("task_always_eager", "task_default_queue")}
    app.conf.task_always_eager = False
    app.conf.task_default_queue = f"browser-{uuid.uuid4().hex[:8]}"
    # Producers are pooled per broker connection; start from fresh ones.
    app._pool = None
    app.amqp._producer_pool = None
    try:
        # audits.services.routing names the default queue from the settings: the same one.
        with override_settings(CELERY_TASK_DEFAULT_QUEUE=app.conf.task_default_queue), \
                start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30,
                             queues=[app.conf.task_default_queue]):
            yield
    finally:
        app.conf.update(saved)
