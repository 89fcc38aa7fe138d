"""Headless Chromium (Debian's package) driven by Playwright, for the journey tests."""

from contextlib import contextmanager

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def browser_page():
    """A page in headless Chromium; the journey fails if the page's Content-Security-Policy
    refused anything (an inline script or handler left in a template)."""
    # Playwright's sync API runs an event loop in this thread, where Django's ORM refuses to
    # run: make database rows before opening the page.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(15_000)
        refused = page.csp_refusals = []
        page.on(
            "console",
            lambda message: (
                refused.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        try:
            yield page
        finally:
            browser.close()
        assert not refused, refused


def log_in(page, web_server: str, username: str, password: str) -> None:
    page.goto(web_server + "/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def create_account(page, username: str, password: str) -> None:
    """Fill and send the account form (the first account's, or an invitation's)."""
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password confirmation").fill(password)
    page.get_by_role("button", name="Create account").click()
