"""A real browser for the pages' tests: Debian's headless Chromium, driven by Playwright (which
never downloads a browser here). `make test` installs chromium when missing."""

from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def require_browser():
    """Without chromium or Playwright a browser test fails (a skip would prove nothing)."""
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if not _playwright_installed():
        missing.append("playwright (pip install -e '.[test]')")
    if missing:
        pytest.fail("the browser test needs " + " and ".join(missing))


def _playwright_installed():
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture
def browser():
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
