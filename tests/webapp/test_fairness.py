"""Fairness on the model page and in the API: the analyst picks a column, a worker compares the
model's out-of-fold answers group by group."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from webapp.experiments.models import Candidate
from webapp.experiments.tasks import reap_experiments


def model_page(client, candidate) -> str:
    return client.get(reverse("experiments:model", args=[candidate.pk])).content.decode()


def test_groups_of_a_column_are_compared_on_rows_the_model_did_not_train_on(client, finished):
    best = finished.best
    page = model_page(client, best)
    assert 'id="fairness"' in page
    # Few-valued columns, used in training or not; never the id or the target.
    assert best.sensitive_columns() == ["plan", "monthly_fee", "newsletter", "support_calls"]
    assert best.outcomes()[0] == "yes"  # the positive class first

    response = client.post(reverse("experiments:fairness", args=[best.pk]), {"column": "plan"})
    assert response.status_code == 302 and response.url.endswith("#fairness")
    best.refresh_from_db()
    assert best.fairness_since is None, best.fairness
    result = best.fairness
    assert result["column"] == "plan" and result["favourable"] == "yes"
    assert {g["value"] for g in result["groups"]} == {"basic", "standard", "premium"}
    assert sum(g["rows"] for g in result["groups"]) == result["rows"]
    assert 100 <= result["rows"] <= 150  # the validated rows of a 150-row table
    assert all(0 <= g["selection_rate"] <= 1 for g in result["groups"])
    assert result["message"]
    page = model_page(client, best)
    assert "Predicted “yes”" in page and 'id="fairness-verdict"' in page and "premium" in page

    answers = finished.directory / "validation" / f"{best.model_id}.parquet"
    written = answers.stat().st_mtime_ns
    api = client.post(f"/api/v1/models/{best.pk}/fairness", {"column": "newsletter",
                      "favourable": "no"}, content_type="application/json")  # fmt: skip
    assert api.status_code == 202
    body = client.get(f"/api/v1/models/{best.pk}").json()
    assert body["fairness_computing"] is False
    assert body["fairness"]["column"] == "newsletter" and body["fairness"]["favourable"] == "no"
    assert answers.stat().st_mtime_ns == written  # the answers are computed once, then reused


def test_a_column_that_cannot_group_rows_is_refused_in_words(client, finished):
    best = finished.best
    for column in ("customer_id", "churned", "no such column"):
        api = client.post(f"/api/v1/models/{best.pk}/fairness", {"column": column},
                          content_type="application/json")  # fmt: skip
        assert api.status_code == 422 and "not a column to group rows by" in api.json()["detail"]
    api = client.post(f"/api/v1/models/{best.pk}/fairness", {"column": "plan",
                      "favourable": "maybe"}, content_type="application/json")  # fmt: skip
    assert api.status_code == 422 and "'maybe' is not a class" in api.json()["detail"]
    response = client.post(reverse("experiments:fairness", args=[best.pk]),
                           {"column": "customer_id"}, follow=True)  # fmt: skip
    assert "not a column to group rows by" in response.content.decode()
    best.refresh_from_db()
    assert best.fairness is None


def test_one_check_at_a_time_and_a_lost_one_is_given_up_with_a_reason(client, finished, settings):
    best = finished.best
    long_ago = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 120)
    Candidate.objects.filter(pk=best.pk).update(fairness={"column": "plan", "favourable": "yes"},
                                                fairness_since=long_ago)  # fmt: skip
    page = model_page(client, best)
    assert 'id="fairness-measuring"' in page and 'hx-trigger="every 2s"' in page
    api = client.post(f"/api/v1/models/{best.pk}/fairness", {"column": "plan"},
                      content_type="application/json")  # fmt: skip
    assert api.status_code == 409 and "running" in api.json()["detail"]

    reap_experiments()
    best.refresh_from_db()
    assert best.fairness_since is None and "stopped" in best.fairness["error"]
    assert 'id="fairness-error"' in model_page(client, best)
