from __future__ import annotations

import logging
import uuid
from pathlib import Path

from django.conf import settings
from django.db import models, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone

from webapp.accounts import quotas
from webapp.datasets.models import Dataset
from webapp.lib import broker
from webapp.lib.files import remove_directory_on_commit
from webapp.lib.jobs import QUEUE_DOWN, Job
from webapp.lib.ownership import OwnedModel

logger = logging.getLogger(__name__)

BUDGET_PRESETS = {"quick": 60, "balanced": 300, "thorough": 1800}
LAST_PRIORITY = 9  # the broker's priority steps are 0 to 9
# Tables this large keep TEST_SHARE of their rows aside by default, enough for a stable score.
TEST_MIN_ROWS, TEST_SHARE = 2000, 0.1
MIN_BUDGET = 10
# A column of more values than this is not a group a fairness check compares (an id, a
# number); the engine pools the smallest of those it compares (``automl.fairness``).
MAX_SENSITIVE_VALUES = 50


class Experiment(OwnedModel, Job):
    """A training run on a dataset: its settings, its state on the workers and its leaderboard.

    The row is the truth about the run, a job (``webapp.lib.jobs``): its worker claims it with
    the Celery task id it was sent with, writes a heartbeat while training, and reads
    ``cancel_requested``; the reaper re-queues once, then fails, a run whose worker is gone.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        FINISHED = "finished"
        CANCELLED = "cancelled"
        FAILED = "failed"

    class Validation(models.TextChoices):
        CV = "cv", "k-fold cross-validation"
        HOLDOUT = "holdout", "a holdout share"
        TIME = "time", "the latest rows by a date column"

    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="experiments")
    name = models.CharField(max_length=200)
    target = models.CharField(max_length=255)
    task = models.CharField(max_length=12, default="auto")
    metric = models.CharField(max_length=30, default="auto")
    time_budget = models.PositiveIntegerField(default=BUDGET_PRESETS["quick"])
    families = models.JSONField(default=list, blank=True)
    exclude = models.JSONField(default=list, blank=True)
    # The dataset's kind corrections and kept columns when launched: later edits do not
    # change a past run.
    kinds = models.JSONField(default=dict, blank=True)
    keep = models.JSONField(default=list, blank=True)
    validation = models.CharField(max_length=8, choices=Validation.choices, default="cv")
    n_splits = models.PositiveSmallIntegerField(default=5)
    holdout_size = models.FloatField(default=0.2)
    # A share of rows kept out of the search and scored once per model: an honest estimate.
    test_size = models.FloatField(null=True, blank=True)
    time_column = models.CharField(max_length=255, blank=True)
    # Training processes the search may use at once, on any machine; None: every one free
    # when it starts.
    parallelism = models.PositiveSmallIntegerField(null=True, blank=True)
    # Models to train at most, the budget still holding; with the fixed seed, the same
    # leaderboard on any machine however busy (H2O's max_models, the engine's n_trials).
    max_models = models.PositiveIntegerField(null=True, blank=True)

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    # Set once the engine has read the data: the task and metric actually used.
    detected_task = models.CharField(max_length=12, blank=True)
    metric_name = models.CharField(max_length=30, blank=True)
    greater_is_better = models.BooleanField(default=True)
    # How each model family reads the columns, in sentences: {family: [sentence, ...]}.
    pipelines = models.JSONField(default=dict, blank=True)
    # What the engine's checks found when it read the data, and what it did (automl.checks).
    checks = models.JSONField(default=list, blank=True)
    cancel_requested = models.BooleanField(default=False)
    task_id = models.CharField(max_length=64, blank=True)
    n_trials = models.PositiveIntegerField(default=0)
    best = models.ForeignKey(
        "Candidate", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Its place in the training queue. A person's first waiting or running experiment goes
    # before their second, so that nobody's runs hold every worker while another person's
    # first run waits: Celery's message priorities on Redis, 0 first (settings.py).
    priority = models.PositiveSmallIntegerField(default=0)
    queued = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(default=timezone.now)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    QUEUED, RUNNING = Status.QUEUED, Status.RUNNING

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def directory_root() -> Path:
        return Path(settings.MEDIA_ROOT) / "experiments"

    @property
    def directory(self) -> Path:
        return self.directory_root() / str(self.key)

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def elapsed(self) -> float:
        if not self.started:
            return 0.0
        end = self.finished or timezone.now()
        return max((end - self.started).total_seconds(), 0.0)

    @property
    def search_directory(self) -> Path:
        """The search's shared state while it runs: its plan, rows and candidates' predictions,
        read by every worker that trains its trials (and by a coordinator taking it over)."""
        return self.directory / "search"

    @property
    def study_name(self) -> str:
        return f"experiment-{self.key}"

    @property
    def n_workers(self) -> int:
        """Worker processes that trained a candidate of this run."""
        workers = self.candidates.exclude(worker="").values_list("worker", flat=True)
        return len(set(workers))

    @property
    def progress(self) -> float:
        """Elapsed time against the budget (or models trained against ``max_models``, when
        further along), 0 to 1; 1 once the run ended."""
        if not self.is_active:
            return 1.0
        done = self.elapsed / self.time_budget
        if self.max_models:
            done = max(done, self.n_trials / self.max_models)
        return min(done, 1.0)

    def deletion_blocker(self) -> str | None:
        """Why this experiment cannot be deleted now, or None."""
        if self.is_active:
            return "The run is still going: cancel it first."
        slugs = sorted(set(self.candidates.filter(versions__isnull=False).values_list(
            "versions__deployment__slug", flat=True)))  # fmt: skip
        if slugs:
            return (
                f"A model of this experiment is deployed ({', '.join(slugs)}): delete that "
                "deployment first."
            )
        return None

    def engine_settings(self) -> dict:
        """The ``AutoML`` arguments this experiment stands for."""
        overrides = {k: v for k, v in self.kinds.items() if v != "excluded"}
        excluded = {k for k, v in self.kinds.items() if v == "excluded"} | set(self.exclude)
        return {
            "task": self.task,
            "metric": self.metric,
            "time_budget": self.time_budget,
            "families": self.families or None,
            "validation": self.validation,
            "n_splits": self.n_splits,
            "holdout_size": self.holdout_size,
            "test_size": self.test_size,
            "time_column": self.time_column or None,
            "kinds": overrides,
            "exclude": sorted(excluded - {self.target}),
            "keep": list(self.keep),
            "n_trials": self.max_models,
            "seed": 0,
        }

    # The run's life, as the worker and the reaper move it along (see Job).
    def launch(self) -> None:
        """Queue the training on a worker once the row is committed, behind the experiments
        already waiting (a person's second one behind others' first)."""
        from webapp.experiments.tasks import forget_search

        if self.search_directory.exists():  # a past run's
            forget_search(self)
        self.status, self.error, self.runner = self.Status.QUEUED, "", ""
        active = Experiment.objects.filter(owner_id=self.owner_id,
                                           status__in=(self.QUEUED, self.RUNNING))  # fmt: skip
        self.priority = min(active.exclude(pk=self.pk).count(), LAST_PRIORITY)
        self.queued = timezone.now()
        self.save()
        self.send()

    @classmethod
    def celery_task(cls):
        from webapp.experiments.tasks import train_experiment

        return train_experiment

    def send(self) -> None:
        # Under a new task id, so that a lost message, if it returns, is ignored; in its
        # place in the queue. The worker that takes a lost run continues its search.
        self.task_id = str(uuid.uuid4())
        Experiment.objects.filter(pk=self.pk).update(task_id=self.task_id)
        self.enqueue(task_id=self.task_id, priority=self.priority)

    @property
    def queue_position(self) -> int | None:
        """1 for the queued experiment a training worker takes next; None unless queued."""
        if self.status != self.Status.QUEUED:
            return None
        first = models.Q(priority__lt=self.priority)
        first |= models.Q(priority=self.priority, queued__lt=self.queued)
        return Experiment.objects.filter(first, status=self.Status.QUEUED).count() + 1

    @staticmethod
    def training_now() -> int:
        """Experiments training on any worker now."""
        return Experiment.objects.filter(status=Experiment.Status.RUNNING).count()

    def may_claim(self, task_id: str | None) -> bool:
        if self.task_id != task_id or not self.is_active:
            return False
        if self.cancel_requested:
            self._end(self.Status.CANCELLED)
            return False
        return True

    def on_claim(self) -> None:
        if (self.search_directory / "plan.pkl").exists():
            return  # a search whose coordinator was lost: this attempt takes it over
        self.candidates.all().delete()  # a run that starts again starts afresh
        self.error, self.started = "", timezone.now()
        self.n_trials, self.best, self.finished = 0, None, None

    def should_stop(self) -> bool:
        return self.cancel_requested_now()

    def cancel_requested_now(self) -> bool:
        return Experiment.objects.filter(pk=self.pk, cancel_requested=True).exists()

    def request_cancel(self) -> None:
        """Stop the run: a queued one at once, a running one at its worker's next check."""
        with transaction.atomic():
            row = Experiment.objects.select_for_update().get(pk=self.pk)
            if not row.is_active:
                return
            row.cancel_requested = True
            if row.status == self.Status.QUEUED:
                row._end(self.Status.CANCELLED)
            else:
                row.save(update_fields=["cancel_requested"])
        self.refresh_from_db()

    def finish(self, status: str, error: str = "") -> None:
        self.mine().update(status=status, error=error, finished=timezone.now())
        self.refresh_from_db()

    def fail(self, reason: str) -> None:
        """End the run with ``reason``: cancelled if the user asked for it meanwhile."""
        status = self.Status.CANCELLED if self.cancel_requested_now() else self.Status.FAILED
        self.unfinished().update(status=status, error=reason, finished=timezone.now())
        self.refresh_from_db()

    def lost_worker_message(self) -> str:
        return (
            f"The worker training this experiment stopped {self.attempts} times without "
            "finishing, most likely because it ran out of memory. Try again with fewer "
            "columns, a sample of the rows, or on a machine with more memory."
        )

    def _end(self, status: str, error: str = "") -> None:
        self.status, self.error, self.finished = status, error, timezone.now()
        self.save()

    def leaderboard(self, sort: str = "rank") -> list[Candidate]:
        """Finished candidates best first (or by ``sort``), then pruned and failed ones."""
        rows = list(self.candidates.defer("evaluation", "importance"))
        done = [c for c in rows if c.state == Candidate.State.COMPLETE]
        sign = -1 if self.greater_is_better else 1
        done.sort(key=lambda c: sign * c.score)
        ranks = {c.pk: rank for rank, c in enumerate(done, 1)}
        for candidate in rows:
            candidate.rank = ranks.get(candidate.pk)
            candidate.is_best = candidate.pk == self.best_id
        if sort in SORT_KEYS:
            done.sort(key=SORT_KEYS[sort])
        return done + [c for c in rows if c.state != Candidate.State.COMPLETE]

    def default_tolerance(self) -> float | None:
        """How far below the best a model may score and still count as "as good", in the
        metric's units: the best's spread across folds (the score's own noise), else 1 % of
        its score."""
        best = self.best
        if best is None or best.score is None:
            return None
        return best.score_std or abs(best.score) * 0.01

    def choices(
        self, within: float | None = None, leaderboard: list[Candidate] | None = None
    ) -> list[tuple[list[str], Candidate]]:
        """Accuracy and prediction cost side by side: the best model, the best single model
        when the best is a blend, and the fastest to predict of those that score within
        ``within`` of the best (``default_tolerance`` by default); each model once, with
        every reason it is there. ``leaderboard``: this run's, when the caller has it."""
        best = self.best
        if best is None or best.score is None:
            return []
        within = self.default_tolerance() if within is None else within
        board = self.leaderboard() if leaderboard is None else leaderboard
        done = sorted((c for c in board if c.state == Candidate.State.COMPLETE),
                      key=lambda c: c.rank)  # fmt: skip
        sign = 1 if self.greater_is_better else -1
        close = [c for c in done if sign * (best.score - c.score) <= within + 1e-12]
        rows = [("best", best)]
        singles = [c for c in done if not c.is_ensemble]
        if best.is_ensemble and singles:
            rows.append(("best single model", singles[0]))
        timed = [c for c in close if c.predict_ms_per_1k is not None]
        if timed:
            fastest = min(timed, key=lambda c: (c.predict_ms_per_1k, -sign * c.score))
            rows.append(("fastest within the tolerance", fastest))
        labelled: dict[int, tuple[list[str], Candidate]] = {}
        for label, candidate in rows:
            labelled.setdefault(candidate.pk, ([], candidate))[0].append(label)
        return list(labelled.values())


class CandidateQuerySet(models.QuerySet):
    def owned_by(self, user) -> CandidateQuerySet:
        """Candidates of ``user``'s experiments (``get_owned_or_404`` works with them)."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(experiment__owner=user).select_related("experiment")


class Candidate(models.Model):
    """One model the search tried: a leaderboard row, its evaluation and, once built, its
    artifact (the best is built at the end of the run; others on request)."""

    class State(models.TextChoices):
        COMPLETE = "complete"
        PRUNED = "pruned"
        FAILED = "failed"

    class Artifact(models.TextChoices):
        NONE = "none"
        BUILDING = "building"
        READY = "ready"
        FAILED = "failed"

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="candidates")
    model_id = models.CharField(max_length=16)
    family = models.CharField(max_length=40)
    params = models.JSONField(default=dict)
    state = models.CharField(max_length=10, choices=State.choices)
    score = models.FloatField(null=True)
    score_std = models.FloatField(null=True)
    test_score = models.FloatField(null=True)
    fit_seconds = models.FloatField(null=True)
    predict_ms_per_1k = models.FloatField(null=True)
    seconds = models.FloatField(default=0)
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=300, blank=True)  # host:pid that trained it
    evaluation = models.JSONField(null=True, blank=True)
    importance = models.JSONField(null=True, blank=True)
    # Set while a worker measures the columns the search's budget left unmeasured.
    importance_since = models.DateTimeField(null=True, blank=True)
    # The last fairness asked for (``automl.fairness.by_group``'s answer, or the question and
    # an ``error``), measured since ``fairness_since`` when that is set.
    fairness = models.JSONField(null=True, blank=True)
    fairness_since = models.DateTimeField(null=True, blank=True)
    artifact = models.CharField(max_length=10, choices=Artifact.choices, default=Artifact.NONE)
    artifact_error = models.TextField(blank=True)
    artifact_started = models.DateTimeField(null=True, blank=True)
    # Its ONNX export once built (``automl.to_onnx``): ``difference`` and ``rows`` checked, or
    # ``blocked_by``, what prevents it.
    onnx = models.JSONField(null=True, blank=True)
    # Bytes its model's folder, zip and ONNX file take, for the owner's storage quota.
    disk_bytes = models.BigIntegerField(default=0)
    # The rows its built model trained on, of the training rows there were: fewer when
    # training on all of them would have run past the time budget.
    trained_rows = models.IntegerField(null=True, blank=True)
    training_rows = models.IntegerField(null=True, blank=True)
    created = models.DateTimeField(default=timezone.now)

    objects = CandidateQuerySet.as_manager()

    class Meta:
        ordering = ["created", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "model_id"], name="unique_model_id")
        ]

    def __str__(self) -> str:
        return f"{self.model_id} ({self.family})"

    @property
    def is_ensemble(self) -> bool:
        from automl import ENSEMBLE  # on use: the web process starts without sklearn

        return self.family == ENSEMBLE

    def members(self) -> list[dict]:
        """For an ensemble, the candidates it blends: ``{"candidate", "weight"}`` each, the
        heaviest first (``candidate`` is None for one no longer on the leaderboard)."""
        rows = self.params.get("members", []) if self.is_ensemble else []
        found = self.experiment.candidates.filter(model_id__in=[m["model_id"] for m in rows])
        by_id = {c.model_id: c for c in found}
        members = [{"candidate": by_id.get(m["model_id"]), **m} for m in rows]
        return sorted(members, key=lambda m: -m["weight"])

    @property
    def artifact_path(self) -> Path:
        return self.experiment.directory / "models" / self.model_id

    @property
    def archive_path(self) -> Path:
        return self.artifact_path.with_suffix(".zip")

    @property
    def onnx_path(self) -> Path:
        return self.artifact_path.with_suffix(".onnx")

    @property
    def is_downloadable(self) -> bool:
        return self.artifact == self.Artifact.READY and self.archive_path.exists()

    @property
    def has_onnx(self) -> bool:
        return self.is_downloadable and bool(self.onnx) and self.onnx_path.exists()

    def request_build(self) -> bool:
        """Queue the training of this candidate on all rows; False when there is nothing to do,
        ``QuotaExceeded`` past the owner's quotas."""
        claimable = [self.Artifact.NONE, self.Artifact.FAILED]
        if self.artifact not in claimable:
            return False
        with quotas.new_job(self.experiment.owner):
            queued = Candidate.objects.filter(
                pk=self.pk, state=self.State.COMPLETE, artifact__in=claimable
            ).update(
                artifact=self.Artifact.BUILDING, artifact_error="", artifact_started=timezone.now()
            )
            if queued:
                self.send_build()
        self.refresh_from_db()
        return bool(queued)

    def send_build(self) -> None:
        from webapp.experiments.tasks import build_model

        def queue_down():
            Candidate.objects.filter(pk=self.pk, artifact=self.Artifact.BUILDING).update(
                artifact=self.Artifact.FAILED, artifact_error=QUEUE_DOWN
            )

        broker.send_on_commit(build_model, self.pk, queue_down)

    def as_row(self) -> dict:
        """The leaderboard row the engine builds a model from (``AutoML.build``)."""
        return {"model_id": self.model_id, "family": self.family, "params": self.params,
                "score": self.score, "score_std": self.score_std,
                "test_score": self.test_score}  # fmt: skip

    @property
    def importance_incomplete(self) -> bool:
        return any(row["importance"] is None for row in self.importance or [])

    def complete_importance(self, again: bool = False) -> None:
        """Measure, on a worker, the columns whose importance the search's budget left out
        (``again``: a lost message's, since the first ask)."""
        from webapp.experiments.tasks import complete_importance

        if not again:
            Candidate.objects.filter(pk=self.pk).update(importance_since=timezone.now())

        def queue_down():
            Candidate.objects.filter(pk=self.pk).update(importance_since=None)

        broker.send_on_commit(complete_importance, self.pk, queue_down)

    def sensitive_columns(self) -> list[str]:
        """The dataset's columns a fairness check can group rows by: few values, not the
        target; whether training used them or not."""
        experiment = self.experiment
        return [c["name"] for c in experiment.dataset.columns()
                if c["name"] != experiment.target and 2 <= c["distinct"] <= MAX_SENSITIVE_VALUES
                ]  # fmt: skip

    def outcomes(self) -> list[str]:
        """The classes a fairness check may call favourable, the positive one first."""
        evaluation = self.evaluation or {}
        labels = [row["label"] for row in evaluation.get("per_class", [])]
        positive = evaluation.get("positive")
        return [positive, *(label for label in labels if label != positive)] if positive else labels

    def measure_fairness(self, column: str, favourable: str | None = None) -> None:
        """Compare, on a worker, how the model answers the groups of ``column``'s values, on
        rows it did not train on (``favourable``: the class whose selection is compared)."""
        from webapp.experiments.tasks import measure_fairness

        if self.state != self.State.COMPLETE:
            raise ValueError(f"This model is {self.state}, not finished.")
        if self.fairness_since:
            raise ValueError("A fairness check of this model is running; wait for its answer.")
        if column not in self.sensitive_columns():
            raise ValueError(
                f"{column!r} is not a column to group rows by: pick one of "
                f"{', '.join(map(repr, self.sensitive_columns())) or 'none (no column qualifies)'}."
            )
        outcomes = self.outcomes()
        if favourable and favourable not in outcomes:
            raise ValueError(f"{favourable!r} is not a class of the target.")
        asked = {"column": column, "favourable": favourable or (outcomes[0] if outcomes else None)}
        Candidate.objects.filter(pk=self.pk).update(fairness=asked, fairness_since=timezone.now())

        def queue_down():
            Candidate.objects.filter(pk=self.pk).update(
                fairness={**asked, "error": QUEUE_DOWN}, fairness_since=None
            )

        broker.send_on_commit(measure_fairness, self.pk, queue_down)
        self.refresh_from_db()


# What a search of the experiments reads (the list's ``?q=``, page and API).
SEARCHED = ("name", "target", "dataset__name")
SORT_KEYS = {
    "family": lambda c: c.family,
    "fit_seconds": lambda c: c.fit_seconds or 0,
    "predict_ms_per_1k": lambda c: c.predict_ms_per_1k or 0,
    "model_id": lambda c: c.model_id,
}


@receiver(post_delete, sender=Experiment)
def _remove_files(sender, instance: Experiment, **kwargs) -> None:
    # A signal, not delete(): deleting a dataset or a user deletes its experiments in bulk.
    remove_directory_on_commit(instance.directory)
