"""The experiments journey in real Chromium, on the real web server and worker: from a
dataset, launch a Quick experiment, watch the leaderboard grow, stop it, open the best model's
page with its charts, and compare two models."""

import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import expect

from tests.webapp.browser import browser_page
from tests.webapp.factories import PASSWORD
from webapp.datasets.models import Dataset
from webapp.datasets.tasks import ingest_dataset

pytestmark = [pytest.mark.browser, pytest.mark.integration]
CSV = Path(__file__).resolve().parents[1] / "data" / "customers.csv"


@pytest.fixture
def dataset(transactional_db, django_user_model, monkeypatch):
    ada = django_user_model.objects.create_user("ada", password=PASSWORD)
    monkeypatch.setattr(ingest_dataset, "apply_async", lambda *a, **k: None)  # ingested right here
    dataset = Dataset.create_from_upload(ada, SimpleUploadedFile("customers.csv", CSV.read_bytes()))
    ingest_dataset(dataset.pk)
    return dataset


@pytest.fixture
def page(dataset, web_server, celery_worker):
    with browser_page() as page:
        page.goto(web_server + "/accounts/login/")
        page.get_by_label("Username").fill("ada")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.goto(f"{web_server}/datasets/{dataset.pk}/")
        yield page


def test_train_watch_stop_inspect_and_compare(page):
    page.get_by_label("Target column").select_option("churned")
    page.get_by_role("link", name="Train models").click()

    expect(page.get_by_role("heading", name="Train models on customers.csv")).to_be_visible()
    expect(page.get_by_label("Column to predict")).to_have_value("churned")
    expect(page.get_by_label("Quick · 1 min")).to_be_checked()
    page.get_by_role("button", name="Train").click()

    expect(page).to_have_url(re.compile(r"/experiments/\d+/$"))
    rows = page.locator("#leaderboard tbody tr")
    expect(rows.first).to_be_visible(timeout=30_000)  # the first model within seconds
    expect(page.locator("#run-status")).to_have_text("Running")
    first = rows.count()
    expect(rows.nth(max(first, 2))).to_be_visible(timeout=45_000)  # it grows without reload
    expect(page.locator(".plot-scatter")).to_be_visible()

    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#run-status")).to_have_text("Cancelled", timeout=30_000)
    expect(page.locator(".badge-best")).to_be_visible()
    kept = rows.count()
    assert kept >= 3

    page.locator("#leaderboard tr.best a").first.click()
    expect(page.get_by_role("heading", name=re.compile(r"m\d{3} ·"))).to_be_visible()
    expect(page.locator("svg[aria-label='ROC curve']")).to_be_visible()
    expect(page.locator("svg[aria-label='Precision and recall']")).to_be_visible()
    expect(page.locator("table.confusion")).to_be_visible()
    expect(page.locator("svg[aria-label='Column importance']")).to_be_visible()
    hover = page.locator("svg[aria-label='ROC curve'] title").first.text_content()
    assert re.search(r"x \d", hover), hover  # exact values on hover
    expect(page.get_by_role("link", name="Download model (.zip)")).to_be_visible()

    page.go_back()
    boxes = page.locator("#leaderboard input[type=checkbox]")
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.get_by_role("button", name="Compare selected").click()
    expect(page.get_by_role("heading", name="Compare 2 models")).to_be_visible()
    legend = page.locator("svg[aria-label='ROC curve'] .plot-legend")
    expect(legend).to_have_count(2)  # one curve per model, overlaid
    expect(legend.first).to_contain_text(re.compile(r"m\d{3}"))
