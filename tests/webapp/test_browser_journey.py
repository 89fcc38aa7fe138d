"""The first journey in a real browser: sign up on a fresh install, log out, log in, and land
on the empty Datasets page. Headless Chromium (Debian's package) driven by Playwright."""

import re

import pytest
from playwright.sync_api import expect

from tests.webapp.browser import browser_page, create_account, log_in

PASSWORD = "a-long-and-fresh-passphrase"

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture
def page(web_server, celery_worker, transactional_db):
    with browser_page() as page:
        yield page


def test_sign_up_log_in_and_see_the_empty_datasets_page(page, web_server):
    page.goto(web_server)
    expect(page.get_by_role("heading", name="Create the first account")).to_be_visible()

    create_account(page, "ada", PASSWORD)

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


@pytest.fixture
def root(transactional_db, django_user_model):
    return django_user_model.objects.create_superuser("root", password=PASSWORD)


def test_an_administrator_invites_a_colleague_who_joins(root, page, web_server):
    log_in(page, web_server, "root", PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Team").click()
    page.get_by_label("Who it is for").fill("Grace, finance")
    page.get_by_role("button", name="Create invitation link").click()
    link = page.locator("#new-invitation").input_value()
    assert link.startswith(web_server + "/accounts/invitations/inv_")
    expect(page.locator("#invitations")).to_contain_text("Grace, finance")
    page.get_by_role("button", name="Log out").click()

    page.goto(link)
    expect(page.get_by_role("heading", name="Create your account")).to_be_visible()
    create_account(page, "grace", PASSWORD)
    expect(page.get_by_text("Welcome, grace")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).not_to_contain_text("Team")


def test_pages_run_no_inline_script_and_the_api_docs_render(ada, page, web_server):
    log_in(page, web_server, "ada", PASSWORD)
    for path in ("/datasets/", "/experiments/", "/deployments/", "/accounts/"):
        response = page.goto(web_server + path)
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("style")[0]
    page.goto(web_server + "/api/v1/docs")
    expect(page.locator("#swagger-ui .info")).to_be_visible()  # Swagger UI ran, from here
    # An inline script injected into a page is refused: the browser enforces the policy (and
    # browser_page, which fails a journey on any refusal, forgives this deliberate one).
    refused = page.evaluate(
        """() => new Promise(done => {
            document.addEventListener("securitypolicyviolation", () => done(true));
            const s = document.createElement("script");
            s.textContent = "window.ran = true";
            document.body.appendChild(s);
            setTimeout(() => done(false), 1000);
        })"""
    )
    assert refused and page.evaluate("window.ran === undefined")
    assert page.csp_refusals
    page.csp_refusals.clear()
