"""The datasets journey in real Chromium, on the real web server and worker: drop a CSV onto
the page, watch it upload and ingest, read the profile and its charts, correct a kind, pick a
target."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.webapp.browser import browser_page
from tests.webapp.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.integration]
CSV = Path(__file__).resolve().parents[1] / "data" / "customers.csv"


@pytest.fixture
def ada(transactional_db, django_user_model):
    return django_user_model.objects.create_user("ada", password=PASSWORD)


@pytest.fixture
def page(ada, web_server, celery_worker):
    with browser_page() as page:
        page.goto(web_server + "/accounts/login/")
        page.get_by_label("Username").fill("ada")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(re.compile(r"/datasets/$"))
        yield page


def drop_file(page, path: Path) -> None:
    """Drop ``path`` onto the drop zone as a browser would, through a DataTransfer."""
    page.evaluate(
        """([name, text]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([text], name, {type: "text/csv"}));
            const zone = document.getElementById("dropzone");
            zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: transfer, bubbles: true}));
            zone.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true}));
        }""",
        [path.name, path.read_text()],
    )


def test_upload_explore_correct_and_pick_a_target(page):
    drop_file(page, CSV)
    expect(page.locator("#dropzone strong")).to_have_text("customers.csv")
    page.get_by_role("button", name="Upload").click()

    expect(page).to_have_url(re.compile(r"/datasets/\d+/$"))
    expect(page.get_by_role("heading", name="customers.csv")).to_be_visible()
    expect(page.locator(".stats")).to_contain_text("150 rows", timeout=30_000)
    expect(page.locator(".stats")).to_contain_text("8 columns")
    assert page.locator("svg.chart").count() >= 3  # histograms and a timeline
    ids = page.locator("article.check", has_text="Identifiers")  # a card: an ID, left out
    expect(ids).to_contain_text("'customer_id'")
    expect(ids).to_contain_text("Left out of training")
    expect(page.locator("table.preview")).to_contain_text("C1000")

    kind = page.get_by_label("Kind of support_calls")
    expect(kind).to_have_value("numeric")
    save = page.get_by_role("button", name="Save support_calls as this kind")
    expect(save).to_be_hidden()
    kind.select_option("categorical")  # nothing is sent until the change is saved
    expect(save).to_be_visible()
    assert page.get_by_label("Kind of support_calls").input_value() == "categorical"
    save.click()
    expect(page.locator("table.columns tr", has_text="support_calls")).to_contain_text("changed")
    expect(page.get_by_label("Kind of support_calls")).to_have_value("categorical")

    page.get_by_label("Target column").select_option("churned")
    expect(page.locator("#target .task")).to_contain_text("binary classification", timeout=30_000)
    expect(page.locator("#target .topvalues")).to_contain_text("no")


def test_a_bad_file_fails_in_plain_words(page, tmp_path):
    bad = tmp_path / "broken.csv"
    bad.write_text("a,b,c\n1,2,3\n4,5,6,7,8\n")
    page.locator("#file-input").set_input_files(bad)
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "Line 3 has 5 fields but the header has 3", timeout=30_000
    )
    # Deleting asks first (a script of the page's own, not an inline handler).
    questions = []
    page.once("dialog", lambda dialog: questions.append(dialog.message) or dialog.dismiss())
    page.get_by_role("button", name="Delete dataset").click()
    assert questions and "cannot be undone" in questions[0]
    expect(page).to_have_url(re.compile(r"/datasets/\d+/$"))  # dismissed: nothing deleted
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete dataset").click()
    expect(page.get_by_text("and its files were deleted")).to_be_visible()
