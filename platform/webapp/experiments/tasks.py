"""Training on workers: the engine's search with its progress written to the database.

``train_experiment`` coordinates a run (a job, see ``webapp.lib.jobs``): it claims the row,
opens the search's study (``webapp.experiments.studies``), trains trials itself and sends
``join_experiment`` to as many other training processes as the run may use, which take trials
of the same study on any machine; at the budget it weighs every worker's candidates into an
ensemble, refits the best on all rows (the workers still there take a share) and saves it. A
duplicated or stale message finds the run taken, ended or re-queued under another id and does
nothing. While a run trains, a thread writes its heartbeat and reads the cancel flag; the
reaper, run by Celery beat, sends a run whose coordinator died once more, and the new
coordinator takes its search over and asks again for the helpers it has lost.
"""

from __future__ import annotations

import logging
import math
import shutil
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import timedelta

import pandas as pd
from celery import current_app, shared_task
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from automl import (
    LEARNERS,
    AutoML,
    AutoMLError,
    by_group,
    describe_preprocessor,
    join_search,
    to_onnx,
)
from webapp.experiments import studies
from webapp.experiments.models import LAST_PRIORITY, Candidate, Experiment
from webapp.lib import broker, memory
from webapp.lib.files import size_on_disk, sweep, written_whole
from webapp.lib.jobs import failure_reason, heartbeat_timeout, reap, running
from webapp.lib.keys import artifact_signing_key

logger = logging.getLogger(__name__)

Status = Experiment.Status
INTERNAL_ERROR = "Something went wrong on our side while training; it has been logged."
# Training rows an ONNX export's answers are checked on against the model's.
EXAMPLE_ROWS = 200


@shared_task(bind=True)
def train_experiment(self, experiment_id: int) -> None:
    experiment = Experiment.objects.filter(pk=experiment_id).select_related("dataset").first()
    if experiment is None or not experiment.claim(self.request.id):
        return
    with running(experiment, INTERNAL_ERROR) as heartbeat:
        frame = pd.read_parquet(experiment.dataset.parquet_path)
        run = AutoML(**experiment.engine_settings(), n_threads=settings.TRAINING_THREADS)
        parallelism = experiment.parallelism or free_training_processes() + 1
        try:
            run.fit(
                frame,
                target=experiment.target,
                callbacks=[Recorder(experiment, run, helpers=parallelism - 1)],
                should_stop=heartbeat.stopped,
                workdir=experiment.search_directory,
                storage=studies.storage_url(),
                study_name=experiment.study_name,
                parallelism=parallelism,
            )
            examples = frame.head(EXAMPLE_ROWS).copy()  # not a view that keeps every row
        finally:
            del frame
        mine = experiment.mine()
        if not mine.exists():  # the run was handed to another worker meanwhile
            return
        best = experiment.candidates.get(model_id=run.model_.info["model_id"])
        save_model(best, run.model_, examples)
        mine.update(best=best)
        forget_search(experiment)
        experiment.finish(Status.CANCELLED if run.cancelled_ else Status.FINISHED)
    experiment.refresh_from_db()
    # A run that failed left its search behind (one that finished removed it already).
    if not experiment.is_active and experiment.search_directory.exists():
        forget_search(experiment)


@shared_task
def join_experiment(experiment_id: int, index: int) -> None:
    """Train trials of a running experiment's search beside its coordinator, until the search
    ends, the run is cancelled, or another experiment waits for a training worker (this one
    then gives its place up after its trial)."""
    experiment = Experiment.objects.filter(pk=experiment_id, status=Status.RUNNING).first()
    if experiment is None:
        return

    def should_stop() -> bool:
        going = Experiment.objects.filter(pk=experiment_id, status=Status.RUNNING,
                                          cancel_requested=False)  # fmt: skip
        return not going.exists() or Experiment.objects.filter(status=Status.QUEUED).exists()

    try:
        with memory.ceiling(settings.JOB_MEMORY_LIMIT):
            join_search(
                experiment.search_directory,
                storage=studies.storage_url(),
                n_threads=settings.TRAINING_THREADS,
                index=index,
                callbacks=[Recorder(experiment)],
                should_stop=should_stop,
            )
    except Exception:  # its trial is failed and tried again by the coordinator; the run goes on
        logger.exception("A worker of experiment %s failed", experiment_id)
    finally:
        memory.return_freed()


def free_training_processes() -> int:
    """Training processes no job occupies now, on every worker that serves the queue (0 when
    the workers cannot be asked: the run then trains on its coordinator alone)."""
    if current_app.conf.task_always_eager:  # tasks run inline (tests): no workers to share
        return 0
    inspect = current_app.control.inspect(timeout=1)
    try:
        with ThreadPoolExecutor(3) as pool:  # each question waits the whole timeout
            asked = [pool.submit(getattr(inspect, q)) for q in ("active_queues", "stats", "active")]
            queues, stats, active = (question.result() or {} for question in asked)
    except Exception:
        logger.warning("Could not ask the workers how many are free", exc_info=True)
        return 0
    serving = {
        name
        for name, served in queues.items()
        if any(q["name"] == settings.TRAINING_QUEUE for q in served)
    }
    slots = sum(stats.get(name, {}).get("pool", {}).get("max-concurrency", 0) for name in serving)
    return max(slots - sum(len(active.get(name, [])) for name in serving), 0)


def _send_helpers(experiment: Experiment, helpers: int) -> None:
    """Ask for the training processes the run may use beside its coordinator; if the queue
    cannot be reached, the coordinator trains alone."""
    try:
        for index in range(1, helpers + 1):
            # Last in the queue: an experiment still waiting for its coordinator goes first.
            join_experiment.apply_async((experiment.pk, index), priority=LAST_PRIORITY)
    except Exception:
        logger.warning("Could not ask for workers for experiment %s", experiment.pk,
                       exc_info=True)  # fmt: skip


def forget_search(experiment: Experiment) -> None:
    """Remove a search's shared state: its folder and its study."""
    shutil.rmtree(experiment.search_directory, ignore_errors=True)
    studies.delete_study(experiment.study_name)


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
        with memory.ceiling(settings.JOB_MEMORY_LIMIT):
            frame = pd.read_parquet(experiment.dataset.parquet_path)
            # A short job: one core, so that it slows no training run down.
            run = AutoML(**experiment.engine_settings(), n_jobs=1)
            model = run.build(frame, candidate.as_row(), target=experiment.target)
            examples = frame.head(EXAMPLE_ROWS).copy()  # not a view that keeps every row
            del frame
            save_model(candidate, model, examples)
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
def complete_importance(candidate_id: int) -> None:
    """Measure every column's importance for a model whose search budget left some out, on
    rows it did not train on; the model page says "computing" meanwhile."""
    measuring = Candidate.objects.filter(pk=candidate_id, importance_since__isnull=False)
    candidate = measuring.select_related("experiment__dataset").first()
    if candidate is None:
        return
    experiment = candidate.experiment
    try:
        if experiment.dataset.read_after(experiment.created):
            raise AutoMLError("The dataset was read again after this experiment.")
        with memory.ceiling(settings.JOB_MEMORY_LIMIT):
            frame = pd.read_parquet(experiment.dataset.parquet_path)
            run = AutoML(**experiment.engine_settings(), n_jobs=1)
            importance = run.importance(frame, candidate.as_row(), target=experiment.target)
            del frame
        measuring.update(importance=_json(importance), importance_since=None)
    except Exception as error:
        # The columns measured during the search stay; the others say "not computed".
        if failure_reason(error) is None:
            logger.exception("Measuring the importance of model %s failed", candidate_id)
        measuring.update(importance_since=None)
    finally:
        memory.return_freed()


@shared_task
def measure_fairness(candidate_id: int) -> None:
    """Compare how a model answers the groups of the column asked for (``Candidate.fairness``)
    on its out-of-fold answers, which the first question computes and later ones reuse."""
    measuring = Candidate.objects.filter(pk=candidate_id, fairness_since__isnull=False)
    candidate = measuring.select_related("experiment__dataset").first()
    if candidate is None:
        return
    experiment, asked = candidate.experiment, candidate.fairness
    try:
        if experiment.dataset.read_after(experiment.created):
            raise AutoMLError("The dataset was read again after this experiment.")
        with memory.ceiling(settings.JOB_MEMORY_LIMIT):
            frame = pd.read_parquet(experiment.dataset.parquet_path)
            answers = _out_of_fold(candidate, frame)
            column = frame[asked["column"]].iloc[answers.index]
            del frame
        favourable = None
        if candidate.outcomes():
            wanted = asked.get("favourable") or candidate.outcomes()[0]
            favourable = next((c for c in answers["actual"].unique() if str(c) == wanted), wanted)
        result = by_group(column, answers["actual"], answers["predicted"], favourable)
        measuring.update(fairness=_json(result), fairness_since=None)
    except Exception as error:
        reason = failure_reason(error)
        if reason is None:
            logger.exception("Measuring the fairness of model %s failed", candidate_id)
        error = reason or "Something went wrong on our side; it has been logged."
        measuring.update(fairness={**asked, "error": error}, fairness_since=None)
    finally:
        memory.return_freed()


def _out_of_fold(candidate: Candidate, frame: pd.DataFrame) -> pd.DataFrame:
    """The model's answers on rows it was validated on, kept beside the experiment once
    computed (``AutoML.out_of_fold``)."""
    experiment = candidate.experiment
    path = experiment.directory / "validation" / f"{candidate.model_id}.parquet"
    if path.exists():
        return pd.read_parquet(path)
    run = AutoML(**experiment.engine_settings(), n_jobs=1)
    answers = run.out_of_fold(frame, candidate.as_row(), target=experiment.target)
    path.parent.mkdir(parents=True, exist_ok=True)
    with written_whole(path) as partial:
        answers.to_parquet(partial)
    return answers


@shared_task
def reap_experiments() -> None:
    """Re-queue once, or fail, runs whose worker stopped; send again the builds whose message
    was lost, and fail those that never ended; remove what stopped processes left on disk."""
    reap(Experiment)
    sweep(Experiment.directory_root(), Experiment)
    since = timezone.now() - heartbeat_timeout()
    asked = Candidate.objects.filter(
        artifact=Candidate.Artifact.BUILDING, artifact_started__lt=since
    )
    waiting = {candidate.pk: candidate for candidate in asked}
    for pk in broker.lost(build_model, waiting):
        logger.warning("The build of model %s lost its message: sending it again", pk)
        waiting[pk].send_build()
    # A build longer than the hard time limit was killed by Celery or lost with its worker.
    limit = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    Candidate.objects.filter(
        artifact=Candidate.Artifact.BUILDING, artifact_started__lt=limit
    ).update(
        artifact=Candidate.Artifact.FAILED,
        artifact_error="The worker building this model stopped; build it again.",
    )
    # Importance asked for longer ago than a job may last is given up (the page then says
    # "not computed" for the columns left); one whose message was lost is sent again.
    Candidate.objects.filter(importance_since__lt=limit).update(importance_since=None)
    measuring = {c.pk: c for c in Candidate.objects.filter(importance_since__lt=since)}
    for pk in broker.lost(complete_importance, measuring):
        logger.warning("The importance of model %s lost its message: sending it again", pk)
        measuring[pk].complete_importance(again=True)
    # The same for fairness, which says why it stopped.
    for candidate in Candidate.objects.filter(fairness_since__lt=limit):
        Candidate.objects.filter(pk=candidate.pk).update(
            fairness={**candidate.fairness, "error": "The worker measuring it stopped; ask again."},
            fairness_since=None,
        )
    measuring = {c.pk: c for c in Candidate.objects.filter(fairness_since__lt=since)}
    for pk in broker.lost(measure_fairness, measuring):
        logger.warning("The fairness of model %s lost its message: sending it again", pk)
        asked = measuring[pk].fairness
        measuring[pk].measure_fairness(asked["column"], asked.get("favourable"))


def save_model(candidate: Candidate, model, examples: pd.DataFrame) -> None:
    """Write ``model`` as ``candidate``'s artifact, with a zip of it for download and, where
    every step converts, an ONNX file checked on ``examples``; on a failure (a full disk) none
    is left behind."""
    path = candidate.artifact_path
    try:
        model.save(path, signing_key=artifact_signing_key())
        with (
            written_whole(candidate.archive_path) as partial,
            zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive,
        ):
            for file in sorted(path.rglob("*")):
                archive.write(file, file.relative_to(path))
        candidate.onnx = export_onnx(candidate, model, examples)
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        candidate.archive_path.unlink(missing_ok=True)
        raise
    candidate.importance = _json(model.info.get("importance"))
    candidate.artifact, candidate.artifact_error = Candidate.Artifact.READY, ""
    candidate.disk_bytes = sum(size_on_disk(p) for p in (path, candidate.archive_path,
                                                          candidate.onnx_path))  # fmt: skip
    candidate.trained_rows = model.info.get("n_rows")
    candidate.training_rows = model.info.get("n_training_rows")
    candidate.save(update_fields=["importance", "artifact", "artifact_error", "disk_bytes",
                                  "trained_rows", "training_rows", "onnx"])  # fmt: skip
    if candidate.importance_incomplete:
        candidate.complete_importance()


def export_onnx(candidate: Candidate, model, examples: pd.DataFrame) -> dict:
    """The model as ONNX beside its zip when every step converts and the graph answers as
    the model does on ``examples``; what the page says either way."""
    candidate.onnx_path.unlink(missing_ok=True)
    export = to_onnx(model, examples)
    if export.onnx is None:
        return {"blocked_by": export.blocked_by}
    with written_whole(candidate.onnx_path) as partial:
        partial.write_bytes(export.onnx)
    return {"difference": export.difference, "rows": export.rows}


class Recorder:
    """An engine callback writing each finished candidate to the leaderboard as it comes; the
    coordinator's (with ``run``) also records the search's start and asks for the helpers the
    search lacks, at most ``helpers``."""

    def __init__(self, experiment: Experiment, run: AutoML | None = None, helpers: int = 0):
        self.experiment, self.run, self.helpers = experiment, run, helpers

    def __call__(self, event) -> None:
        if self.run is not None:
            runs = self.experiment.mine()
        else:  # a helper writes while the run goes on, whichever coordinator it has now
            runs = Experiment.objects.filter(pk=self.experiment.pk, status=Status.RUNNING)
        if event.kind == "search_started" and self.run is not None:
            profile = self.run.profile_
            runs.update(
                detected_task=profile.task,
                metric_name=self.run.metric_.name,
                greater_is_better=self.run.metric_.greater_is_better,
                pipelines={
                    f: describe_preprocessor(profile, LEARNERS[f].inputs)
                    for f in event.data["families"]
                },
                checks=_json([asdict(check) for check in self.run.checks_]),
            )
            # A coordinator taking a search over asks only for the helpers the search lacks
            # (its parallelism is the first coordinator's), within the capacity there is.
            lacking = event.data["parallelism"] - 1 - event.data["helpers_at_work"]
            if runs.exists():
                _send_helpers(self.experiment, min(self.helpers, lacking))
        elif event.kind == "candidate_finished" and runs.exists():
            row = event.data["row"]
            fields = ("family", "params", "state", "score", "score_std", "test_score",
                      "fit_seconds", "predict_ms_per_1k", "seconds", "worker")  # fmt: skip
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
