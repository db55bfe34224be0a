"""Browser tests: headless Chromium (Debian's) driven by Playwright against pytest-django's live_server."""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

# Playwright's sync API runs an event loop in the test thread; Django then refuses ORM calls made
# from that thread (fixtures, assertions, the transactional flush) unless this is set.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1366, "height": 768}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# The password tests/conftest.py gives its `supervisor` and `agent` users.
PASSWORD = "pass-1234-word"


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.browser_call_failed = report.failed
    return report


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport=VIEWPORT, locale="ja-JP", timezone_id="Asia/Tokyo")
    context.set_default_timeout(10_000)
    page = context.new_page()
    js_errors: list[str] = []
    page.on("pageerror", lambda error: js_errors.append(str(error)))
    failed = ARTIFACTS / f"failed-{request.node.name}"
    for stale in (failed.with_suffix(".png"), failed.with_suffix(".html")):
        stale.unlink(missing_ok=True)
    yield page
    if getattr(request.node, "browser_call_failed", False):
        # Keep what the browser showed when the test failed.
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=failed.with_suffix(".png"), full_page=True)
        failed.with_suffix(".html").write_text(page.content(), encoding="utf-8")
    context.close()
    assert not js_errors, f"uncaught JavaScript errors in the page: {js_errors}"


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def log_in(page, live_server, username: str, password: str = PASSWORD) -> None:
    """Log in through the real login form; leaves the page wherever the login redirects to."""
    if "/accounts/login/" not in page.url:
        page.goto(f"{live_server.url}/accounts/login/")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(password)
    with page.expect_navigation():
        page.locator("main form button[type=submit]").click()
    expect(page.locator("main .flash.error")).to_have_count(0)
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))
