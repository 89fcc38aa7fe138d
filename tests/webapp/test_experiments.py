"""Experiments: launch, training on a worker (eager here), progress, cancel, recovery, pages.

Runs use the real engine on the shipped customers table; ``quick_runs`` caps them at a few
candidates so each takes seconds. The journey and killed-worker tests use a real worker.
"""

import json
import os
import time
import zipfile
from datetime import timedelta
from io import BytesIO
from pathlib import Path
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

import automl
from automl import runner_name
from tests.webapp.factories import dead_runner, launch
from webapp.datasets.models import Dataset
from webapp.experiments import tasks
from webapp.experiments.forms import ExperimentForm
from webapp.experiments.models import Candidate, Experiment
from webapp.lib.keys import artifact_signing_key

# Committed data: the heartbeat thread and the worker use their own database connections.
pytestmark = pytest.mark.django_db(transaction=True)
CUSTOMERS = Path(__file__).resolve().parents[1] / "data" / "customers.csv"


@pytest.fixture(autouse=True)
def _kept_from_the_broker(sent):
    """Nothing here reaches the suite's real worker."""


def test_a_run_fills_the_leaderboard_and_builds_the_best_model(finished):
    experiment = finished
    assert (experiment.detected_task, experiment.metric_name) == ("binary", "roc_auc")
    # Four searched, and the ensemble of the best when it blends two or more.
    searched = experiment.candidates.exclude(family="ensemble").count()
    assert experiment.n_trials == experiment.candidates.count() in (searched, searched + 1)
    assert searched == 4
    assert experiment.attempts == 1 and experiment.finished and experiment.started
    board = experiment.leaderboard()
    done = [c for c in board if c.state == "complete"]
    assert done and [c.rank for c in done] == list(range(1, len(done) + 1))
    assert [c.score for c in done] == sorted((c.score for c in done), reverse=True)
    best = experiment.best
    assert best == done[0]
    assert board[0].is_best
    assert best.evaluation["task"] == "binary" and 0 <= best.evaluation["roc"]["auc"] <= 1
    # The best was built on all rows: a signed artifact, importance measured per column.
    model = automl.load(best.artifact_path, signing_key=artifact_signing_key())
    assert model.info["model_id"] == best.model_id
    assert best.artifact == "ready" and {r["column"] for r in best.importance} == {
        c["name"] for c in model.schema
    }
    with zipfile.ZipFile(best.archive_path) as archive:
        assert "manifest.json" in archive.namelist()
    assert experiment.pipelines["linear"] and "scaled" in " ".join(experiment.pipelines["linear"])


def test_progress_is_recorded_as_candidates_finish(
    client, alice, dataset, eager, quick_runs, monkeypatch, django_capture_on_commit_callbacks
):
    seen = []
    record = tasks.Recorder.__call__

    def spy(self, event):
        record(self, event)
        if event.kind == "candidate_finished":
            row = Experiment.objects.get(pk=self.experiment.pk)
            seen.append((row.status, row.n_trials, row.candidates.count()))

    monkeypatch.setattr(tasks.Recorder, "__call__", spy)
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        launch(client, dataset)
    assert seen[:4] == [("running", n, n) for n in range(1, 5)]
    assert seen[4:] in ([], [("running", 5, 5)])  # the ensemble, when there is one


def test_cancel_stops_the_run_and_keeps_finished_models(
    client, alice, dataset, eager, quick_runs, monkeypatch, django_capture_on_commit_callbacks
):
    record = tasks.Recorder.__call__

    def cancel_after_first(self, event):
        record(self, event)
        if event.kind == "candidate_finished":
            Experiment.objects.get(pk=self.experiment.pk).request_cancel()
            time.sleep(0.3)  # a few heartbeats

    monkeypatch.setattr(tasks.Recorder, "__call__", cancel_after_first)
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        launch(client, dataset)
    experiment = Experiment.objects.get()
    assert experiment.status == "cancelled"
    assert experiment.candidates.count() < 4
    assert experiment.best and experiment.best.artifact == "ready"


def test_cancelling_a_queued_run_ends_it_at_once(client, alice, dataset, quick_runs):
    client.force_login(alice)
    launch(client, dataset)  # not committed: no worker sees it
    experiment = Experiment.objects.get()
    client.post(reverse("experiments:cancel", args=[experiment.pk]))
    experiment.refresh_from_db()
    assert experiment.status == "cancelled" and experiment.finished
    assert not experiment.claim(experiment.task_id)


def test_engine_errors_fail_the_run_in_plain_words(
    client, alice, dataset, eager, quick_runs, django_capture_on_commit_callbacks
):
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        # customer_id is unique: every class has a single row.
        launch(client, dataset, target="customer_id", task="multiclass", metric="log_loss")
    experiment = Experiment.objects.get()
    assert experiment.status == "failed"
    assert "single row" in experiment.error


def running(experiment, *, runner, heartbeat_age=0, attempts=1):
    Experiment.objects.filter(pk=experiment.pk).update(
        status="running",
        runner=runner,
        attempts=attempts,
        heartbeat=timezone.now() - timedelta(seconds=heartbeat_age),
        started=timezone.now(),
    )
    experiment.refresh_from_db()
    return experiment


@pytest.fixture
def queued(alice, dataset):
    experiment = Experiment.objects.create(owner=alice, dataset=dataset, target="churned")
    experiment.task_id = "task-1"
    experiment.save()
    return experiment


def test_a_redelivered_task_retakes_a_run_whose_process_died(queued):
    experiment = running(queued, runner=dead_runner())
    Candidate.objects.create(experiment=experiment, model_id="m001", family="linear",
                             state="complete", score=0.5)  # fmt: skip
    assert experiment.claim("task-1")
    assert experiment.attempts == 2 and experiment.runner == runner_name()
    assert not experiment.candidates.exists()  # it starts afresh


def test_a_duplicate_task_leaves_a_live_run_alone(queued):
    experiment = running(queued, runner=runner_name())
    assert not experiment.claim("task-1")
    assert not experiment.claim("another-task")


def test_a_reused_process_id_is_not_taken_for_the_runner(queued):
    # After a container restart, a new process can get the dead runner's id.
    host, pid, started = runner_name().split(":")
    experiment = running(queued, runner=f"{host}:{pid}:{int(started) - 1}")
    assert experiment.runner_lost()
    assert experiment.claim("task-1")


def test_a_launch_the_queue_refuses_fails_in_plain_words(client, alice, dataset, sent):
    sent.side_effect = ConnectionError("Redis is down")
    client.force_login(alice)
    launch(client, dataset)
    experiment = Experiment.objects.get()
    assert experiment.status == "failed" and "could not be reached" in experiment.error


def test_models_of_data_read_again_are_not_rebuilt(finished, eager):
    other = next(c for c in finished.leaderboard() if c.state == "complete" and not c.is_best)
    os.utime(finished.dataset.parquet_path)  # as a new ingestion would
    Experiment.objects.filter(pk=finished.pk).update(created=timezone.now() - timedelta(1))
    other.request_build()
    tasks.build_model(other.pk)
    other.refresh_from_db()
    assert other.artifact == "failed" and "read again" in other.artifact_error


def test_a_run_whose_worker_died_twice_fails_with_a_reason(queued):
    experiment = running(queued, runner=dead_runner(), attempts=2)
    assert not experiment.claim("task-1")
    experiment.refresh_from_db()
    assert experiment.status == "failed" and "out of memory" in experiment.error


def test_the_reaper_requeues_a_dead_run_once_then_fails_it(queued, settings):
    settings.HEARTBEAT_TIMEOUT = 30
    dead = dead_runner()
    experiment = running(queued, runner=dead, heartbeat_age=60)
    with mock.patch.object(tasks.train_experiment, "apply_async") as send:
        tasks.reap_experiments()
    experiment.refresh_from_db()
    assert experiment.status == "queued" and experiment.task_id != "task-1"
    send.assert_called_once_with((experiment.pk,), task_id=experiment.task_id, priority=0)
    assert not experiment.claim("task-1")  # the old message, if it ever comes back, is ignored

    running(experiment, runner=dead, heartbeat_age=60, attempts=2)
    tasks.reap_experiments()
    experiment.refresh_from_db()
    assert experiment.status == "failed" and "stopped 2 times" in experiment.error


def test_the_reaper_spares_fresh_heartbeats_and_live_processes(queued, settings):
    settings.HEARTBEAT_TIMEOUT = 30
    experiment = running(queued, runner=dead_runner(), heartbeat_age=5)
    tasks.reap_experiments()
    experiment.refresh_from_db()
    assert experiment.status == "running"  # the heartbeat is recent: redelivery comes first
    experiment = running(queued, runner=runner_name(), heartbeat_age=600)
    tasks.reap_experiments()
    experiment.refresh_from_db()
    assert experiment.status == "running"  # slow, but its process lives


def test_pages_show_the_leaderboard_model_charts_and_comparison(client, finished):
    experiment = finished
    page = client.get(reverse("experiments:detail", args=[experiment.pk])).content.decode()
    assert 'id="leaderboard"' in page and "badge-best" in page
    assert "Score against training time" in page
    assert "every 1s" not in page  # a finished run stops polling
    best = experiment.best
    page = client.get(reverse("experiments:model", args=[best.pk])).content.decode()
    for expected in ("ROC curve", "Precision and recall", 'class="confusion"',
                     "Column importance", "Download model"):  # fmt: skip
        assert expected in page, expected
    two = [c.pk for c in experiment.leaderboard() if c.state == "complete"][:2]
    response = client.get(reverse("experiments:compare", args=[experiment.pk]), {"models": two})
    assert response.status_code == 200
    assert response.content.decode().count("<th><a href") == 2
    compare = reverse("experiments:compare", args=[experiment.pk])
    for models in (two[:1], [two[0], two[0]], [two[0], "²"], [two[0], "-1"]):
        assert client.get(compare, {"models": models}).status_code == 400, models


def test_the_leaderboard_sorts_by_a_column(client, finished):
    url = reverse("experiments:detail", args=[finished.pk])
    board = finished.leaderboard("fit_seconds")
    done = [c.fit_seconds for c in board if c.state == "complete"]
    assert done == sorted(done)
    assert client.get(url, {"sort": "fit_seconds"}).status_code == 200


def test_download_and_build_other_models(
    client, finished, eager, django_capture_on_commit_callbacks
):
    other = next(c for c in finished.leaderboard() if c.state == "complete" and not c.is_best)
    assert client.get(reverse("experiments:artifact", args=[other.pk])).status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("experiments:build", args=[other.pk]))
    other.refresh_from_db()
    assert other.artifact == "ready" and other.importance
    response = client.get(reverse("experiments:artifact", args=[other.pk]))
    assert response.status_code == 200
    archive = zipfile.ZipFile(BytesIO(b"".join(response.streaming_content)))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["model_id"] == other.model_id and manifest["family"] == other.family


def test_an_ensemble_row_shows_its_members_and_builds_like_any_model(
    client, finished, eager, django_capture_on_commit_callbacks
):
    a, b = [c for c in finished.leaderboard() if c.state == "complete" and not c.is_ensemble][:2]
    members = [{"model_id": c.model_id, "family": c.family, "params": c.params, "weight": w}
               for c, w in ((a, 0.25), (b, 0.75))]  # fmt: skip
    ensemble = Candidate.objects.create(
        experiment=finished, model_id="m900", family="ensemble", state="complete",
        params={"members": members}, score=a.score,
    )  # fmt: skip
    page = client.get(reverse("experiments:model", args=[ensemble.pk])).content.decode()
    assert "Weighted ensemble" in page and "What it blends" in page
    heaviest = page.index(reverse("experiments:model", args=[b.pk]))
    assert heaviest < page.index(reverse("experiments:model", args=[a.pk]))
    assert "75.0%" in page and "25.0%" in page
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("experiments:build", args=[ensemble.pk]))
    ensemble.refresh_from_db()
    assert ensemble.artifact == "ready", ensemble.artifact_error
    response = client.get(reverse("experiments:artifact", args=[ensemble.pk]))
    archive = zipfile.ZipFile(BytesIO(b"".join(response.streaming_content)))
    manifest = json.loads(archive.read("manifest.json"))
    assert [m["model_id"] for m in manifest["params"]["members"]] == [a.model_id, b.model_id]


def test_the_fastest_model_within_a_tolerance_stands_beside_the_best(client, finished):
    finished.candidates.update(state="pruned")
    rows = {"m900": ("ensemble", 0.90, 50.0), "m901": ("linear", 0.895, 10.0),
            "m902": ("xgboost", 0.889, 5.0), "m903": ("random_forest", 0.85, 1.0)}  # fmt: skip
    made = {model_id: Candidate.objects.create(
        experiment=finished, model_id=model_id, family=family, state="complete", score=score,
        score_std=0.01, predict_ms_per_1k=cost,
        params={"members": []} if family == "ensemble" else {},
    ) for model_id, (family, score, cost) in rows.items()}  # fmt: skip
    finished.best = made["m900"]
    finished.save()

    def chosen(within=None):
        return [(reasons, c.model_id) for reasons, c in finished.choices(within)]

    # By default, within the best's own noise (its spread across folds): 0.01 of ROC AUC.
    assert finished.default_tolerance() == 0.01
    both = ["best single model", "fastest within the tolerance"]
    assert chosen() == [(["best"], "m900"), (both, "m901")]
    assert chosen(0.02)[-1] == (["fastest within the tolerance"], "m902")
    assert chosen(0.1)[-1][1] == "m903" and chosen(0)[-1][1] == "m901"
    url = reverse("experiments:detail", args=[finished.pk])
    page = client.get(url, {"within": "0.02"}).content.decode()
    table = page.split('id="choice-table"')[1].split("</table>")[0]
    assert table.index("m900") < table.index("m901") < table.index("m902") and "m903" not in table
    assert "Fastest within the tolerance" in table and "5.0 ms" in table and "50 ms" in table
    for bad in ("abc", "-1", "nan", "inf"):
        page = client.get(url, {"within": bad}).content.decode()
        assert 'id="within-error"' in page and "m901" in page.split('id="choice-table"')[1]


def test_settings_beyond_the_models_own_are_explained_on_its_page(client, finished):
    params = {"learning_rate": 0.1, "target_scale": "log", "sample_rows": 2000}
    row = Candidate.objects.create(
        experiment=finished, model_id="m950", state="complete", params=params, score=0.8,
        family="hist_gradient_boosting",
    )  # fmt: skip
    page = client.get(reverse("experiments:model", args=[row.pk])).content.decode()
    assert "target scale" in page and "learns log(1 + target)" in page
    assert "sample rows" in page and "a first look" in page


def test_others_get_404_everywhere(client, bob, finished):
    client.force_login(bob)
    best = finished.best
    for url in (
        reverse("experiments:detail", args=[finished.pk]),
        reverse("experiments:model", args=[best.pk]),
        reverse("experiments:artifact", args=[best.pk]),
        f"/api/v1/experiments/{finished.pk}",
        f"/api/v1/models/{best.pk}",
        f"/api/v1/models/{best.pk}/artifact",
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("experiments:cancel", args=[finished.pk])).status_code == 404
    assert (
        reverse("experiments:detail", args=[finished.pk])
        not in client.get(reverse("experiments:index")).content.decode()
    )


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"time_budget": "5"}, "time_budget", "between 10 seconds"),
        ({"time_budget": "inf"}, "time_budget", "between"),
        ({"time_budget": "soon"}, "time_budget", "as a number"),
        ({"time_budget": "custom", "custom_minutes": "600"}, "time_budget", "between"),
        ({"time_budget": "custom", "custom_minutes": "1e308"}, "time_budget", "between"),
        ({"time_budget": "custom"}, "time_budget", "between"),
        ({"exclude": ["churned"]}, "exclude", "cannot be left out"),
        ({"metric": "rmse"}, "metric", "does not score binary"),
        ({"validation": "time"}, "time_column", "needs a date column"),
        ({"target": "nope"}, "target", "not one of the available choices"),
        ({"families": []}, "families", "at least one model family"),
    ],
)
def test_the_form_explains_bad_settings(client, alice, dataset, fields, field, message):
    dataset.choose_target("churned")
    dataset.target_profile = {"target": "churned", "task": "binary"}
    dataset.save()
    client.force_login(alice)
    response = launch(client, dataset, **fields)
    assert response.status_code == 200
    assert message in str(response.context["form"].errors[field])
    assert not Experiment.objects.exists()


def test_the_form_uses_defaults_and_a_custom_budget(client, alice, dataset):
    client.force_login(alice)
    page = client.get(reverse("experiments:new", args=[dataset.pk])).content.decode()
    assert "Quick · 1 min" in page and "ROC AUC" in page
    launch(client, dataset, time_budget="custom", custom_minutes="2.5", validation="time",
           time_column="signup_date")  # fmt: skip
    experiment = Experiment.objects.get()
    assert experiment.time_budget == 150 and experiment.engine_settings()["time_column"] == (
        "signup_date"
    )


def test_a_dataset_not_ready_cannot_be_trained_on(client, alice, dataset):
    Dataset.objects.filter(pk=dataset.pk).update(status="processing")
    client.force_login(alice)
    response = client.get(reverse("experiments:new", args=[dataset.pk]))
    assert response.status_code == 302


# The JSON API.
def api(client, method, url, body=None):
    kwargs = {"content_type": "application/json", "data": json.dumps(body)} if body else {}
    return getattr(client, method)(f"/api/v1{url}", **kwargs)


def test_api_launches_reports_and_downloads(
    client, alice, dataset, eager, settings, django_capture_on_commit_callbacks
):
    settings.HEARTBEAT_SECONDS = 0.05
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = api(client, "post", "/experiments",
                       {"dataset": dataset.pk, "target": "churned", "time_budget": 300,
                        "max_models": 3,
                        "validation": {"method": "holdout", "holdout": 0.25}})  # fmt: skip
    assert response.status_code == 201, response.content
    experiment_id = response.json()["id"]
    body = api(client, "get", f"/experiments/{experiment_id}").json()
    assert body["status"] == "finished" and body["task"] == "binary"
    # Three models, then the run ends, long before its budget.
    assert body["max_models"] == 3 and body["progress"]["trials"] == 3
    assert body["progress"]["budget"] == 300
    best = body["best_model_id"]
    assert body["leaderboard"][0]["model_id"] == best and body["leaderboard"][0]["rank"] == 1
    model = api(client, "get", f"/models/{best}").json()
    assert model["artifact"] == "ready" and model["evaluation"]["roc"]["auc"] > 0
    assert model["metric"] == "roc_auc"
    download = client.get(f"/api/v1/models/{best}/artifact")
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    other = next(r["model_id"] for r in body["leaderboard"] if r["rank"] == 2)
    assert client.get(f"/api/v1/models/{other}/artifact").status_code == 409
    listing = api(client, "get", "/experiments").json()["items"]
    assert [e["id"] for e in listing] == [experiment_id]
    assert api(client, "delete", f"/experiments/{experiment_id}").status_code == 204


def test_rows_kept_aside_give_each_model_a_test_score(
    client, alice, dataset, eager, quick_runs, django_capture_on_commit_callbacks
):
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        body = {"dataset": dataset.pk, "target": "churned", "keep_test": True}
        experiment_id = api(client, "post", "/experiments", body).json()["id"]
    experiment = Experiment.objects.get(pk=experiment_id)
    assert experiment.test_size == 0.1
    done = [c for c in experiment.leaderboard() if c.state == "complete"]
    assert done and all(0 <= c.test_score <= 1 for c in done)
    page = client.get(reverse("experiments:detail", args=[experiment_id])).content.decode()
    assert "Test score" in page
    # Small tables keep every row for training unless asked.
    assert ExperimentForm(dataset).fields["keep_test"].initial is False


@pytest.mark.parametrize(
    ("body", "loc", "message"),
    [
        ({"dataset": 999_999}, ["dataset"], "no dataset"),
        ({"target": "nope"}, ["target"], "not one of the available choices"),
        ({"time_budget": 100_000}, ["time_budget"], "between"),
        ({"validation": {"method": "time"}}, ["validation", "time_column"], "date column"),
        ({"families": ["nope"]}, ["families"], "not one of the available choices"),
        ({"max_models": 0}, ["max_models"], "greater than or equal to 1"),
    ],
)
def test_api_rejects_bad_launches_naming_the_field(client, alice, dataset, body, loc, message):
    client.force_login(alice)
    response = api(client, "post", "/experiments",
                   {"dataset": dataset.pk, "target": "churned", **body})  # fmt: skip
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert any(e.startswith(f"{'.'.join(loc)}: ") and message in e for e in errors), errors


def test_api_refuses_a_dataset_not_ready(client, alice, dataset):
    Dataset.objects.filter(pk=dataset.pk).update(status="failed")
    client.force_login(alice)
    response = api(client, "post", "/experiments", {"dataset": dataset.pk, "target": "churned"})
    assert response.status_code == 422 and "failed" in response.json()["errors"][0]


def test_api_cancel(client, alice, dataset):
    client.force_login(alice)
    response = api(client, "post", "/experiments", {"dataset": dataset.pk, "target": "churned"})
    experiment_id = response.json()["id"]
    body = api(client, "post", f"/experiments/{experiment_id}/cancel").json()
    assert body["status"] == "cancelled"


def test_api_is_in_the_openapi_schema(client):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    for path in (
        "/api/v1/experiments", "/api/v1/experiments/{experiment_id}",
        "/api/v1/experiments/{experiment_id}/cancel", "/api/v1/models/{model_id}",
        "/api/v1/models/{model_id}/artifact", "/api/v1/models/{model_id}/build",
    ):  # fmt: skip
        assert path in paths, path


def test_a_persons_second_run_waits_behind_another_persons_first(alice, bob, dataset, client):
    from webapp.datasets.models import Dataset as Datasets

    theirs = Datasets.objects.create(owner=bob, name="b", filename="b.csv", suffix=".csv", size=1,
                                     status="ready")  # fmt: skip

    def new(owner, on):
        experiment = Experiment.objects.create(owner=owner, dataset=on, target="churned")
        experiment.launch()
        return experiment

    first, second = new(alice, dataset), new(alice, dataset)
    bobs = new(bob, theirs)
    assert (first.priority, second.priority, bobs.priority) == (0, 1, 0)
    positions = [Experiment.objects.get(pk=e.pk).queue_position for e in (first, second, bobs)]
    assert positions == [1, 3, 2]  # bob's first goes before alice's second

    Experiment.objects.filter(pk=first.pk).update(status="running")
    client.force_login(alice)
    page = client.get(reverse("experiments:detail", args=[second.pk])).content.decode()
    assert "1 experiment is training, and 1 queued experiment goes first" in page
    body = client.get(f"/api/v1/experiments/{second.pk}").json()
    assert body["status"] == "queued" and body["queue_position"] == 2
    assert client.get(f"/api/v1/experiments/{first.pk}").json()["queue_position"] is None


def test_the_leaderboard_downloads_as_csv_with_formulas_neutralised(client, finished, bob):
    import csv
    import io

    worst = finished.leaderboard()[-1]
    Candidate.objects.filter(pk=worst.pk).update(error='=HYPERLINK("http://x.example","y")')
    response = client.get(reverse("experiments:leaderboard_csv", args=[finished.pk]))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "leaderboard.csv" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == finished.candidates.count()
    assert rows[0]["rank"] == "1" and rows[0]["model"] == finished.best.model_id
    assert float(rows[0]["roc_auc (validation)"]) == pytest.approx(finished.best.score)
    assert rows[-1]["error"] == "'" + '=HYPERLINK("http://x.example","y")'
    page = client.get(reverse("experiments:detail", args=[finished.pk])).content.decode()
    assert "Download leaderboard (CSV)" in page
    client.force_login(bob)
    assert client.get(reverse("experiments:leaderboard_csv", args=[finished.pk])).status_code == 404


def trained(client, alice, dataset, capture, families):
    client.force_login(alice)
    with capture(execute=True):
        launch(client, dataset, families=families)
    experiment = Experiment.objects.get()
    assert experiment.status == "finished", experiment.error
    return experiment.best


def test_a_model_whose_steps_convert_downloads_as_onnx_answering_as_it_does(
    client, alice, bob, dataset, eager, quick_runs, django_capture_on_commit_callbacks
):
    import onnxruntime

    best = trained(client, alice, dataset, django_capture_on_commit_callbacks, ["linear"])
    assert best.onnx["rows"] == 150 and best.onnx["difference"] < 1e-3
    page = client.get(reverse("experiments:model", args=[best.pk])).content.decode()
    assert "Download ONNX" in page and "on 150 training rows its answers match" in page
    response = client.get(reverse("experiments:onnx", args=[best.pk]))
    assert response.status_code == 200 and ".onnx" in response["Content-Disposition"]
    graph = b"".join(response.streaming_content)
    # The graph, as someone would run it elsewhere, answers as the model does.
    model = automl.load(best.artifact_path, signing_key=artifact_signing_key())
    rows = automl.read_table(CUSTOMERS).tail(20)
    session = onnxruntime.InferenceSession(graph, providers=["CPUExecutionProvider"])
    label, probabilities = session.run(None, automl.onnx_inputs(model, model.validate(rows)))
    assert list(label) == [str(c) for c in model.predict(rows)]
    assert abs(probabilities - model.predict_proba(rows)).max() < 1e-4
    api = client.get(f"/api/v1/models/{best.pk}")
    assert api.json()["onnx"] == best.onnx
    from_api = client.get(f"/api/v1/models/{best.pk}/onnx")
    assert b"".join(from_api.streaming_content) == graph
    client.force_login(bob)
    assert client.get(reverse("experiments:onnx", args=[best.pk])).status_code == 404
    assert client.get(f"/api/v1/models/{best.pk}/onnx").status_code == 404


def test_a_model_that_does_not_convert_says_which_step_prevents_it(
    client, alice, dataset, eager, quick_runs, django_capture_on_commit_callbacks
):
    best = trained(client, alice, dataset, django_capture_on_commit_callbacks,
                   ["hist_gradient_boosting"])  # fmt: skip
    reason = "scikit-learn's gradient boosting splitting on categories itself has no ONNX form"
    assert best.onnx == {"blocked_by": reason} and not best.onnx_path.exists()
    page = client.get(reverse("experiments:model", args=[best.pk])).content.decode()
    assert "Download ONNX" not in page
    assert f"No ONNX export: {reason}." in page.replace("&#x27;", "'")
    response = client.get(f"/api/v1/models/{best.pk}/onnx")
    assert response.status_code == 409
    assert response.json()["detail"] == f"This model has no ONNX export: {reason}."
    assert client.get(reverse("experiments:onnx", args=[best.pk])).status_code == 404
