from __future__ import annotations

import re
import secrets
import uuid
from pathlib import Path

from django.conf import settings
from django.db import models, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone
from django.utils.text import slugify

from automl import read_manifest
from webapp.accounts import quotas
from webapp.deployments import serving
from webapp.deployments.schema import column as request_column
from webapp.experiments.models import Candidate
from webapp.lib import keys
from webapp.lib.files import folder_for, remove_directory_on_commit, size_on_disk, store_upload
from webapp.lib.jobs import Job
from webapp.lib.ownership import OwnedModel

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$")


class Deployment(OwnedModel):
    """A model behind a prediction endpoint, ``/api/v1/deployments/<slug>/predict``.

    Its versions are the models it has served; ``current`` is the one answering now, switched
    in one update so no request sees a half-made switch.
    """

    class Status(models.TextChoices):
        ACTIVE = "active"
        PAUSED = "paused"

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    current = models.ForeignKey("Version", null=True, on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.slug

    @classmethod
    def create_for(cls, owner, candidate: Candidate, slug: str = "") -> tuple[Deployment, str]:
        """Deploy ``candidate`` as version 1 under ``slug`` (or one made from its experiment's
        name); return the deployment and its first key, which is never stored.

        Raises ``ValueError`` with a message for a taken or malformed slug, or a model that
        cannot be served yet.
        """
        check_servable(candidate)
        if slug:
            if not SLUG_PATTERN.match(slug):
                raise ValueError(
                    "A slug is 1 to 50 lowercase letters, digits and dashes, starting and "
                    "ending with a letter or digit."
                )
            if cls.objects.filter(slug=slug).exists():
                raise ValueError(f"The slug {slug!r} is taken; choose another.")
        else:
            slug = unique_slug(candidate.experiment.name)
        with transaction.atomic():
            deployment = cls.objects.create(owner=owner, slug=slug, name=candidate.experiment.name)
            deployment.deploy(candidate)
            _, key = DeploymentKey.issue(deployment, "first key")
        return deployment, key

    def deploy(self, candidate: Candidate) -> Version:
        """Serve ``candidate`` as the next version, from now on."""
        check_servable(candidate)
        with transaction.atomic():
            locked = Deployment.objects.select_for_update().get(pk=self.pk)
            number = (locked.versions.aggregate(n=models.Max("number"))["n"] or 0) + 1
            manifest = read_manifest(candidate.artifact_path)
            version = Version.objects.create(
                deployment=locked, number=number, candidate=candidate,
                schema=input_schema(candidate, manifest),
                ignored_columns=ignored_columns(candidate, manifest),
                classes=[str(c) for c in manifest["classes"]] if manifest["classes"] else None,
            )  # fmt: skip
            self.switch_to(version)
        transaction.on_commit(lambda: serving.warm(version))
        return version

    def switch_to(self, version: Version) -> None:
        Deployment.objects.filter(pk=self.pk).update(current=version)
        self.current = version

    def rollback(self, number: int) -> Version:
        version = self.versions.filter(number=number).first()
        if version is None:
            raise ValueError(f"There is no version {number}.")
        check_servable(version.candidate)
        self.switch_to(version)
        return version

    def set_status(self, status: str) -> None:
        self.status = status
        self.save(update_fields=["status"])


class Version(models.Model):
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    # RESTRICT: a model that served requests stays while its deployment does, so any version
    # can be rolled back to; deleting the owner still removes both.
    candidate = models.ForeignKey(Candidate, on_delete=models.RESTRICT, related_name="versions")
    # What a request sends, made at deploy time:
    # [{name, kind, required, categories, example, date_format}]
    schema = models.JSONField(default=list)
    # Columns of the training table the model does not use: accepted in requests, named back.
    ignored_columns = models.JSONField(default=list)
    classes = models.JSONField(null=True, blank=True)  # as strings, for classification
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "number"], name="unique_version")
        ]

    def __str__(self) -> str:
        return f"{self.deployment.slug} v{self.number}"

    def example(self) -> dict:
        """A request body with one row of typical values (never a real row of the data)."""
        return {"rows": [{c["name"]: c["example"] for c in self.schema}]}


class DeploymentKey(models.Model):
    """A key that lets a program call one deployment; only its digest is kept.

    A predict key (the default) predicts and reads the deployment's description; a batch key
    also scores files, and sees only the batches it sent. Each key has a rate limit on
    predictions (requests per minute; ``PREDICT_RATE_LIMIT`` unless set here, 0 for none).
    """

    class Scope(models.TextChoices):
        PREDICT = "predict", "predict"
        BATCH = "batch", "predict and score files"

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12)
    digest = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.PREDICT)
    rate_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Predictions per minute; empty for the server's default."
    )
    created = models.DateTimeField(default=timezone.now)
    revoked = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(
        cls, deployment: Deployment, name: str, *, scope: str = Scope.PREDICT,
        rate_limit: int | None = None,
    ) -> tuple[DeploymentKey, str]:  # fmt: skip
        key = keys.generate("dep")
        row = cls.objects.create(
            deployment=deployment, name=name, prefix=key[:12], digest=keys.digest(key),
            scope=scope, rate_limit=rate_limit,
        )  # fmt: skip
        return row, key

    @classmethod
    def live(cls, deployment_id: int, key: str) -> DeploymentKey | None:
        """The live key of the deployment ``deployment_id`` that ``key`` is, or None."""
        return (
            cls.objects.filter(
                deployment_id=deployment_id, digest=keys.digest(key), revoked__isnull=True
            )
            .only("pk", "scope", "rate_limit")
            .first()
        )

    @property
    def predictions_per_minute(self) -> int:
        return settings.PREDICT_RATE_LIMIT if self.rate_limit is None else self.rate_limit

    @property
    def scores_files(self) -> bool:
        return self.scope == self.Scope.BATCH

    def revoke(self) -> None:
        if self.revoked is None:
            self.revoked = timezone.now()
            self.save(update_fields=["revoked"])


class Batch(Job):
    """A file of rows scored by a deployment on a worker, offered back with its predictions.

    The version is the one serving at upload time, so every row of a file is scored by the
    same model even if the deployment switches meanwhile. Scoring is a job
    (``webapp.lib.jobs``).
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        FINISHED = "finished"
        FAILED = "failed"

    SUFFIXES = (".csv.gz", ".tsv.gz", ".txt.gz", ".csv", ".tsv", ".txt")
    QUEUED, RUNNING = Status.QUEUED, Status.RUNNING

    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="batches")
    version = models.ForeignKey(Version, on_delete=models.CASCADE, related_name="batches")
    filename = models.CharField(max_length=255)
    size = models.BigIntegerField(default=0)
    # Bytes its files take (the upload and its result), for the owner's storage quota.
    disk_bytes = models.BigIntegerField(default=0)
    # The batch key that sent it: key holders see only their own batches. None: the owner.
    sent_by = models.ForeignKey(
        "DeploymentKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="batches"
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    # Plain-words remarks on the result: columns the file lacked, values that were blanked.
    notes = models.JSONField(default=list)
    # Whether each row gets the columns that moved its prediction most (``batch.REASONS``).
    reasons = models.BooleanField(default=False)
    rows_total = models.PositiveBigIntegerField(null=True)  # estimated before scoring
    rows_done = models.PositiveBigIntegerField(default=0)
    created = models.DateTimeField(default=timezone.now)
    started = models.DateTimeField(null=True)
    finished = models.DateTimeField(null=True)
    updated = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.deployment.slug}: {self.filename}"

    @staticmethod
    def directory_root() -> Path:
        return settings.DATA_DIR / "batches"

    @property
    def directory(self) -> Path:
        return self.directory_root() / str(self.key)

    @property
    def input_path(self) -> Path:
        return self.directory / f"input{batch_suffix(self.filename)}"

    @property
    def result_path(self) -> Path:
        return self.directory / "predictions.csv"

    @property
    def result_name(self) -> str:
        stem = self.filename[: -len(batch_suffix(self.filename))] or "rows"
        return f"{stem}-predictions.csv"

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def progress(self) -> float:
        """Share of the rows scored, 0 to 1 (the total is an estimate until the end)."""
        if self.status == self.Status.FINISHED:
            return 1.0
        return min(self.rows_done / self.rows_total, 0.99) if self.rows_total else 0.0

    @classmethod
    def create_from_upload(cls, deployment: Deployment, uploaded, key=None, *,
                           reasons: bool = False) -> Batch:  # fmt: skip
        """Keep an uploaded file, sent by the owner or by ``key``, and queue its scoring by
        the serving version (with the reasons of each prediction when ``reasons``).

        Raises ``ValueError`` with a message for a file type it cannot read or a deployment
        that is paused or has no model, and ``QuotaExceeded`` past the owner's quotas.
        """
        batch_suffix(uploaded.name)
        if deployment.status == Deployment.Status.PAUSED:
            raise ValueError("This deployment is paused: resume it to score files.")
        if deployment.current is None:
            raise ValueError("This deployment has no model to score with.")
        batch = cls(
            deployment=deployment, version=deployment.current, filename=uploaded.name[:255],
            size=uploaded.size, disk_bytes=uploaded.size, sent_by=key, reasons=reasons,
        )  # fmt: skip
        owner = deployment.owner
        with quotas.new_job(owner, incoming=uploaded.size), folder_for(batch.directory):
            store_upload(uploaded, batch.input_path)
            batch.save()
        batch.send()
        return batch

    # The scoring's life, as the worker and the reaper move it along (see Job).
    @classmethod
    def celery_task(cls):
        from webapp.deployments.tasks import score_batch

        return score_batch

    def on_claim(self) -> None:
        self.rows_done, self.started = 0, timezone.now()
        self.updated = self.started

    def record_progress(self, rows_done: int, rows_total: int) -> bool:
        """Save progress; False when the batch was deleted or taken over meanwhile."""
        self.rows_done, self.rows_total = rows_done, rows_total
        return bool(
            self.mine().update(rows_done=rows_done, rows_total=rows_total, updated=timezone.now())
        )

    def finish(self, rows: int, notes: list[str]) -> None:
        self.mine().update(
            status=self.Status.FINISHED, rows_done=rows, rows_total=rows, notes=notes,
            disk_bytes=size_on_disk(self.directory), finished=timezone.now(),
            updated=timezone.now(),
        )  # fmt: skip

    def fail(self, reason: str) -> None:
        self.unfinished().update(
            status=self.Status.FAILED, error=reason, finished=timezone.now(),
            updated=timezone.now(),
        )  # fmt: skip

    def lost_worker_message(self) -> str:
        return (
            f"The worker scoring this file stopped {self.attempts} times without finishing, "
            "most likely because it needs more memory than this machine has. Try splitting "
            "the file."
        )


@receiver(post_delete, sender=Batch)
def _remove_files(sender, instance: Batch, **kwargs) -> None:
    # A signal, not delete(): deleting a deployment deletes its batches in bulk.
    remove_directory_on_commit(instance.directory)


def batch_suffix(filename: str) -> str:
    """The text-table suffix ``filename`` ends with; ``ValueError`` with a message otherwise."""
    lowered = filename.lower()
    for suffix in Batch.SUFFIXES:
        if lowered.endswith(suffix):
            return suffix
    raise ValueError(
        f"“{filename}” cannot be scored: upload a .csv, .tsv or .txt file (optionally .gz)."
    )


def check_servable(candidate: Candidate) -> None:
    if not candidate.is_downloadable:
        raise ValueError(
            f"Model {candidate.model_id} has not been built on all rows yet: build it first."
        )


def unique_slug(name: str) -> str:
    # File names make names like "churn_modelling.csv.gz · Exited": dashes read better.
    base = slugify(re.sub(r"[._]+", "-", name))[:40].strip("-") or "model"
    slug = base
    while Deployment.objects.filter(slug=slug).exists():
        slug = f"{base}-{secrets.token_hex(2)}"
    return slug


def input_schema(candidate: Candidate, manifest: dict) -> list[dict]:
    """The model's input columns as a request sends them, each with a typical value made
    from the training profile (see ``webapp.deployments.schema``).

    A column is required when it had no missing value in training: the model never learned
    what a gap there means.
    """
    profiles = {c["name"]: c for c in candidate.experiment.dataset.columns()}
    return [
        request_column(
            column, profiles.get(column["name"]),
            required=profiles.get(column["name"], {}).get("missing", 1) == 0,
        )
        for column in manifest["schema"]
    ]  # fmt: skip


def ignored_columns(candidate: Candidate, manifest: dict) -> list[str]:
    """The training table's columns the model does not use, as the engine recorded them (or,
    for a model saved before it did, the dataset's columns outside its schema)."""
    if "ignored_columns" in manifest:
        return manifest["ignored_columns"]
    used = {column["name"] for column in manifest["schema"]}
    return [c["name"] for c in candidate.experiment.dataset.columns() if c["name"] not in used]
