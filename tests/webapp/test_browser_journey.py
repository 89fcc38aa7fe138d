"""The first journey in a real browser: sign up on a fresh install, log out, log in, and land
on the empty Datasets page. Headless Chromium (Debian's package) driven by Playwright."""

import re

import pytest
from playwright.sync_api import expect

from tests.webapp.browser import browser_page

PASSWORD = "a-long-and-fresh-passphrase"

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture
def page(web_server, celery_worker, transactional_db):
    with browser_page() as page:
        yield page


def test_sign_up_log_in_and_see_the_empty_datasets_page(page, web_server):
    page.goto(web_server)
    expect(page.get_by_role("heading", name="Create the first account")).to_be_visible()

    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()

    expect(page).to_have_url(re.compile(r"/datasets/$"))
    expect(page.get_by_role("heading", name="No datasets yet")).to_be_visible()
    expect(page.get_by_text("Welcome, ada")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()

    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    expect(page).to_have_url(re.compile(r"/datasets/$"))
    expect(page.get_by_role("heading", name="Datasets", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="No datasets yet")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_contain_text("Experiments")
    # The stylesheet is served by the app itself (hashed, by whitenoise), and a live worker
    # means no warning badge.
    background = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
    assert background == "rgb(245, 247, 250)"
    page.wait_for_timeout(1500)
    expect(page.get_by_text("No worker running")).to_have_count(0)


@pytest.fixture
def ada(transactional_db, django_user_model):
    return django_user_model.objects.create_user("ada", password=PASSWORD)


def test_wrong_password_is_refused_in_plain_words(ada, page, web_server):
    page.goto(web_server + "/accounts/login/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("correct username and password")
