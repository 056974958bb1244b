"""One real browser for every browser test: Debian's chromium driven by Playwright.

Session-scoped (starting Chromium costs a second or two), with a fresh context (cookies,
storage) per test. Playwright's own browser download is never used: `make test`
(.ci/system-packages) installs Debian's chromium when it is missing, and a missing browser fails
the test instead of skipping it.
Screenshots go to the test's tmp_path and are copied to test-artifacts/screenshots/ (git-ignored)
so they can be looked at after a run.
"""

import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests.support.processes import PROJECT_ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
SCREENSHOTS = PROJECT_ROOT / "test-artifacts" / "screenshots"
# A page action or expectation that takes longer than this is a failure, not a slow machine.
ACTION_TIMEOUT_MS = 15_000


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        raise RuntimeError(
            f"{CHROMIUM} is missing: install Debian's chromium (`apt-get install chromium`; "
            "make test does this on a fresh machine, as root)"
        )
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        await launched.close()


@pytest.fixture
async def browser_context(browser: Browser) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    yield context
    await context.close()


class Screenshots:
    def __init__(self, folder: Path, test_name: str) -> None:
        self.folder = folder
        self.prefix = re.sub(r"[^A-Za-z0-9_.-]+", "-", test_name).strip("-")

    async def take(self, page: Page, name: str) -> Path:
        path = self.folder / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOTS / f"{self.prefix}-{name}.png")
        return path


@pytest.fixture
def screenshots(request: pytest.FixtureRequest, tmp_path: Path) -> Screenshots:
    return Screenshots(tmp_path, request.node.name)
