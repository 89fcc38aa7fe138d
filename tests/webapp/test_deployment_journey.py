"""The deployment journey in real Chromium, on the real web server and worker: deploy the best
model of a finished experiment, copy the key, use "Try it", run the page's curl example
verbatim in a shell, see the requests counted on the monitoring view, and score a file."""

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import expect

from tests.webapp.browser import browser_page
from tests.webapp.conftest import CUSTOMERS
from tests.webapp.factories import PASSWORD
from webapp.datasets.models import Dataset
from webapp.datasets.tasks import ingest_dataset
from webapp.experiments.models import Experiment

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture
def experiment(transactional_db, django_user_model, monkeypatch, celery_worker):
    ada = django_user_model.objects.create_user("ada", password=PASSWORD)
    monkeypatch.setattr(ingest_dataset, "apply_async", lambda *a, **k: None)  # ingested right here
    upload = SimpleUploadedFile("customers.csv", CUSTOMERS.read_bytes())
    dataset = Dataset.create_from_upload(ada, upload)
    ingest_dataset(dataset.pk)
    experiment = Experiment.objects.create(
        owner=ada, dataset=dataset, target="churned", time_budget=10, n_splits=3,
        families=["linear", "hist_gradient_boosting"],
    )  # fmt: skip
    experiment.launch()
    deadline = time.monotonic() + 120
    while experiment.is_active and time.monotonic() < deadline:
        time.sleep(0.2)
        experiment.refresh_from_db()
    assert experiment.status == "finished", experiment.error
    return experiment


@pytest.fixture
def page(experiment, web_server):
    with browser_page() as page:
        page.goto(web_server + "/accounts/login/")
        page.get_by_label("Username").fill("ada")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.goto(f"{web_server}/experiments/{experiment.pk}/")
        yield page


def test_deploy_try_and_call_from_a_shell(page, web_server):
    page.get_by_role("button", name="Deploy the best model").click()
    expect(page).to_have_url(re.compile(r"/deployments/[a-z0-9-]+/$"))
    key = page.locator("#new-key").input_value()
    assert key.startswith("dep_")

    # "Try it": one field per column, filled with typical values; the key is filled in for
    # this visit. Categories are a select, yes/no too, dates a date input.
    form = page.locator("#try-form")
    assert form.locator("select[data-column=plan] option").count() >= 3
    assert form.locator("input[data-column=signup_date]").get_attribute("type") == "date"
    form.locator("select[data-column=plan]").select_option("premium")
    form.locator("select[data-column=newsletter]").select_option("false")
    form.locator("input[data-column=age]").fill("")  # missing: the model fills it in
    page.get_by_role("button", name="Predict").click()
    expect(page.locator("#try-status")).to_contain_text("200", timeout=30_000)
    answer = json.loads(page.locator("#try-response").text_content())
    assert answer["predictions"][0] in ("yes", "no") and answer["version"] == 1
    sent = json.loads(page.locator("#try-body").input_value())["rows"][0]
    assert sent["plan"] == "premium" and sent["newsletter"] is False and sent["age"] is None
    assert isinstance(sent["monthly_fee"], float | int) and sent["signup_date"]
    shown = page.locator("#try-answer")
    expect(shown).to_contain_text(f"Prediction: {answer['predictions'][0]}")
    yes = answer["probabilities"][0]["yes"]
    expect(shown).to_contain_text(f"{100 * yes:.1f} %")
    # What moved the answer, as bars: one per column the endpoint named.
    expect(page.locator("#try-reasons")).to_contain_text("Why: the probability of yes")
    bars = page.locator("#try-reasons .reason")
    assert bars.count() == len(answer["explanations"][0]["contributions"]) > 0

    page.locator("#try-key").fill("dep_not-the-key")
    page.get_by_role("button", name="Predict").click()
    expect(page.locator("#try-status")).to_contain_text("401")
    expect(page.locator("#try-answer")).to_be_hidden()

    curl = page.locator("#curl-example").text_content()
    assert curl.startswith(f"curl -X POST {web_server}/api/v1/deployments/")
    result = subprocess.run(
        ["bash", "-c", curl + " --silent --show-error --fail-with-body"],
        env={**os.environ, "KEY": key}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr + result.stdout
    assert json.loads(result.stdout)["deployment"] in curl

    # The three requests (two answered, one refused) reach the monitoring view as it polls.
    expect(page.locator("#monitor-requests")).to_have_text("3", timeout=20_000)
    expect(page.locator("#monitor-errors")).to_have_text("1")

    page.locator("#batch-file").set_input_files(str(CUSTOMERS))
    page.get_by_role("button", name="Score").click()
    finished = page.locator(".batch[data-status=finished]")
    expect(finished).to_be_visible(timeout=60_000)  # scored by the worker, shown by polling
    with page.expect_download() as download:
        finished.get_by_role("link", name="Download").click()
    assert download.value.suggested_filename == "customers-predictions.csv"
    lines = Path(download.value.path()).read_text(encoding="utf-8-sig").splitlines()
    assert len(lines) == 151 and lines[0].endswith(
        "prediction,probability no,probability yes,problems"
    )
