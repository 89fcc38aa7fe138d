"""A model's report: one HTML file that opens, reads and prints with no server and no network."""

import re

import pytest
from django.urls import reverse

from tests.webapp.browser import browser_page

# Anything that would make a browser fetch: a source, a stylesheet or a link out, a CSS url.
FETCHES = re.compile(r"<script|<link|<img|<iframe|\ssrc=|\shref=|url\(|@import", re.IGNORECASE)


def download(client, candidate):
    response = client.get(reverse("experiments:report", args=[candidate.pk]))
    assert response.status_code == 200
    return response


def test_the_report_holds_everything_a_manager_reads_and_links_nowhere(client, finished):
    best = finished.best
    client.post(reverse("experiments:fairness", args=[best.pk]), {"column": "plan"})
    response = download(client, best)
    assert response["Content-Type"].startswith("text/html")
    disposition = response["Content-Disposition"]  # the name may need RFC 5987's encoding
    assert disposition.startswith("attachment; filename") and disposition.endswith("-report.html")
    html = response.content.decode()
    assert not FETCHES.search(html), FETCHES.search(html)
    for section in ("report-summary", "checks", "report-leaderboard", "report-importance",
                    "report-fairness", "report-schema"):  # fmt: skip
        assert f'id="{section}"' in html, section
    assert "Identifiers" in html  # the check that left customer_id out, with what was done
    for candidate in finished.candidates.filter(state="complete"):
        assert f"<td>{candidate.model_id}" in html
    assert "<svg" in html and "premium" in html
    assert "<td>monthly_fee</td><td>numeric</td>" in html  # the schema a deployment takes
    assert "<form" not in html  # nothing to send: a report is read, not used


def test_a_model_that_did_not_finish_has_no_report(client, finished):
    failed = finished.candidates.create(model_id="m999", family="linear", state="failed")
    assert client.get(reverse("experiments:report", args=[failed.pk])).status_code == 404
    client.logout()
    response = client.get(reverse("experiments:report", args=[finished.best_id]))
    assert response.status_code == 302  # to the login page: reports are their owner's


@pytest.mark.browser
def test_the_report_opens_offline_and_prints_to_pdf(client, finished, tmp_path):
    path = tmp_path / "report.html"
    path.write_bytes(download(client, finished.best).content)
    with browser_page() as page:
        asked = []
        page.route("**/*", lambda route: (asked.append(route.request.url), route.continue_()))
        page.goto(path.as_uri())
        assert asked == [path.as_uri()]  # the file itself, nothing else
        assert page.locator("h1").text_content().startswith(finished.name)
        assert page.locator("svg").count() >= 2  # the evaluation and importance charts
        # The styles came along: cards are drawn as they are on the site.
        padding = page.locator(".card").first.evaluate("e => getComputedStyle(e).paddingTop")
        assert padding != "0px"
        pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
