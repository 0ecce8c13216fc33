"""Real-browser fixtures: Playwright driving Debian's Chromium (never a browser download) against
pytest-django's live server, with the session's nats-server and a real `runactors` worker.

Screenshots go to `$WALNATS_SCREENSHOTS` (default: a pytest temporary folder) and are listed at
the end of the run. Without Chromium the tests fail, saying how to install it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio
from django.contrib.auth.models import User

if TYPE_CHECKING:
    from playwright.async_api import Page

CHROMIUM = Path(os.environ.get("WALNATS_CHROMIUM", "/usr/bin/chromium"))
WIDTH = 1280
PASSWORD = "browser-pw-1"
_SHOTS: list[Path] = []


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium; without it the browser tests fail (never skip), saying how to install it."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: run `apt-get install chromium` "
            "(the browser tests never download a browser).",
            pytrace=False,
        )
    return CHROMIUM


@pytest_asyncio.fixture
async def page(chromium: Path) -> AsyncIterator[Page]:
    """A page 1,280 px wide in headless Chromium.

    The async API: the sync one runs an event loop in the test's thread, where Django then
    refuses database calls.
    """
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.fail("Playwright is not installed: `pip install -e .[dev]` installs it.", pytrace=False)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(chromium))
        context = await browser.new_context(viewport={"width": WIDTH, "height": 900})
        context.set_default_timeout(15_000)
        yield await context.new_page()
        await browser.close()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("WALNATS_SCREENSHOTS")
    if folder:
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("screenshots")


Shoot = Callable[["Page", str], Awaitable[Path]]


@pytest.fixture
def shoot(screenshot_dir: Path) -> Shoot:
    """`await shoot(page, name)`: check the page fits 1,280 px without sideways scrolling, then save
    a full-page screenshot `<name>.png`."""

    async def take(page: Page, name: str) -> Path:
        sizes = await page.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert sizes[0] <= sizes[1], (
            f"{name}: {sizes[0]} px wide in a {sizes[1]} px window (scrolls sideways)"
        )
        path = screenshot_dir / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        _SHOTS.append(path)
        print(f"screenshot: {path}")
        return path

    return take


@pytest.fixture
def superuser(transactional_db: None, django_user_model: type[User]) -> User:
    return django_user_model.objects.create_superuser("browser-admin", "admin@example.com", PASSWORD)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _SHOTS:
        terminalreporter.write_sep("-", "admin screenshots")
        for path in dict.fromkeys(_SHOTS):
            terminalreporter.write_line(str(path))
