"""Training on a worker: the engine's search with its progress written to the database.

Tasks take ids and trust the row (a job, see ``webapp.lib.jobs``): a duplicated or stale
message finds the run taken, ended or re-queued under another id and does nothing. While a run
trains, a thread writes its heartbeat and reads the cancel flag; the reaper, run by Celery
beat, re-queues (once) or fails runs whose worker died.
"""

from __future__ import annotations

import logging
import math
import shutil
import zipfile
from datetime import timedelta

import pandas as pd
from celery import shared_task
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from automl import AutoML, AutoMLError
from automl.features import describe_preprocessor
from webapp.experiments.models import Candidate, Experiment
from webapp.lib import memory
from webapp.lib.files import size_on_disk, sweep, written_whole
from webapp.lib.jobs import failure_reason, reap, running
from webapp.lib.keys import artifact_signing_key

logger = logging.getLogger(__name__)

Status = Experiment.Status
INTERNAL_ERROR = "Something went wrong on our side while training; it has been logged."


@shared_task(bind=True)
def train_experiment(self, experiment_id: int) -> None:
    experiment = Experiment.objects.filter(pk=experiment_id).select_related("dataset").first()
    if experiment is None or not experiment.claim(self.request.id):
        return
    with running(experiment, INTERNAL_ERROR) as heartbeat:
        frame = pd.read_parquet(experiment.dataset.parquet_path)
        run = AutoML(**experiment.engine_settings(), n_jobs=settings.TRAINING_THREADS)
        run.fit(
            frame,
            target=experiment.target,
            callbacks=[Recorder(experiment, run)],
            should_stop=heartbeat.stopped,
        )
        del frame
        mine = experiment.mine()
        if not mine.exists():  # the run was handed to another worker meanwhile
            return
        best = experiment.candidates.get(model_id=run.model_.info["model_id"])
        save_model(best, run.model_)
        mine.update(best=best)
        experiment.finish(Status.CANCELLED if run.cancelled_ else Status.FINISHED)


@shared_task
def build_model(candidate_id: int) -> None:
    """Train one leaderboard candidate on all rows, so it can be downloaded and deployed."""
    building = Candidate.objects.filter(pk=candidate_id, artifact=Candidate.Artifact.BUILDING)
    building.update(artifact_started=timezone.now())
    candidate = building.select_related("experiment__dataset").first()
    if candidate is None:
        return
    experiment = candidate.experiment
    try:
        if experiment.dataset.read_after(experiment.created):
            raise AutoMLError(
                "The dataset was read again after this experiment, so its models cannot be "
                "trained again on the same data. Run a new experiment."
            )
        row = {"model_id": candidate.model_id, "family": candidate.family,
               "params": candidate.params, "score": candidate.score,
               "score_std": candidate.score_std, "test_score": candidate.test_score}  # fmt: skip
        with memory.ceiling(settings.JOB_MEMORY_LIMIT):
            frame = pd.read_parquet(experiment.dataset.parquet_path)
            # A short job: one core, so that it slows no training run down.
            run = AutoML(**experiment.engine_settings(), n_jobs=1)
            model = run.build(frame, row, target=experiment.target)
            del frame
            save_model(candidate, model)
    except Exception as error:
        reason = failure_reason(error)
        if reason is None:
            logger.exception("Building model %s failed", candidate_id)
        candidate.artifact = Candidate.Artifact.FAILED
        candidate.artifact_error = reason or INTERNAL_ERROR
        candidate.save(update_fields=["artifact", "artifact_error"])
    finally:
        memory.return_freed()


@shared_task
def reap_experiments() -> None:
    """Re-queue once, or fail, runs whose worker stopped; fail builds that never ended;
    remove what stopped processes left on disk."""
    reap(Experiment)
    sweep(Experiment.directory_root(), Experiment)
    # A build longer than the hard time limit was killed by Celery or lost with its worker.
    limit = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    Candidate.objects.filter(
        artifact=Candidate.Artifact.BUILDING, artifact_started__lt=limit
    ).update(
        artifact=Candidate.Artifact.FAILED,
        artifact_error="The worker building this model stopped; build it again.",
    )


def save_model(candidate: Candidate, model) -> None:
    """Write ``model`` as ``candidate``'s artifact, with a zip of it for download; on a failure
    (a full disk) neither is left behind."""
    path = candidate.artifact_path
    try:
        model.save(path, signing_key=artifact_signing_key())
        with (
            written_whole(candidate.archive_path) as partial,
            zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive,
        ):
            for file in sorted(path.rglob("*")):
                archive.write(file, file.relative_to(path))
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise
    candidate.importance = _json(model.info.get("importance"))
    candidate.artifact, candidate.artifact_error = Candidate.Artifact.READY, ""
    candidate.disk_bytes = size_on_disk(path) + size_on_disk(candidate.archive_path)
    candidate.save(update_fields=["importance", "artifact", "artifact_error", "disk_bytes"])


class Recorder:
    """An engine callback writing each finished candidate to the leaderboard as it comes."""

    def __init__(self, experiment: Experiment, run: AutoML):
        self.experiment, self.run = experiment, run

    def __call__(self, event) -> None:
        runs = self.experiment.mine()
        if event.kind == "search_started":
            profile = self.run.profile_
            runs.update(
                detected_task=profile.task,
                metric_name=self.run.metric_.name,
                greater_is_better=self.run.metric_.greater_is_better,
                pipelines={f: describe_preprocessor(profile, f) for f in event.data["families"]},
            )
        elif event.kind == "candidate_finished" and runs.exists():
            row = event.data["row"]
            fields = ("family", "params", "state", "score", "score_std", "test_score",
                      "fit_seconds", "predict_ms_per_1k", "seconds")  # fmt: skip
            Candidate.objects.update_or_create(
                experiment=self.experiment,
                model_id=row["model_id"],
                defaults={
                    **{name: _json(row[name]) for name in fields},
                    "error": row["error"] or "",
                    "evaluation": _json(event.data["evaluation"]),
                },
            )
            runs.update(n_trials=F("n_trials") + 1, heartbeat=timezone.now())
        elif event.kind == "best_changed":
            best = self.experiment.candidates.filter(model_id=event.data["row"]["model_id"])
            runs.update(best=best.first())


def _json(value):
    """``value`` with non-finite floats as None: JSON and PostgreSQL refuse NaN in JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    return value
