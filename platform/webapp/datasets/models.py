from __future__ import annotations

import uuid
from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone

from automl import KINDS, suggest_targets
from webapp.accounts import quotas
from webapp.lib import broker
from webapp.lib.files import folder_for, remove_directory_on_commit, size_on_disk, store_upload
from webapp.lib.jobs import QUEUE_DOWN, Job
from webapp.lib.ownership import OwnedModel

# What the engine's reader accepts, by the end of the client's file name.
# What an analyst may set a column to: any kind, or "excluded" to leave it out of models.
KIND_CHOICES = (*KINDS, "excluded")
IN_USE = "An experiment is training on this dataset: cancel it (or let it finish) first."
SUFFIXES = (".csv.gz", ".tsv.gz", ".txt.gz", ".csv", ".tsv", ".txt", ".parquet", ".xlsx")


class Dataset(OwnedModel, Job):
    """An uploaded table: its file, its ingestion state and the engine's profile of it.

    The row is the truth about ingestion: uploaded → processing → ready, or failed with a
    reason a person can read. Reading the file is a job (``webapp.lib.jobs``).
    """

    class Status(models.TextChoices):
        UPLOADED = "uploaded"
        PROCESSING = "processing"
        READY = "ready"
        FAILED = "failed"

    # Files live under a random key, never under anything the client sent.
    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    filename = models.CharField(max_length=255, help_text="The uploaded file's name, shown only.")
    suffix = models.CharField(max_length=10)
    size = models.BigIntegerField()
    # Bytes its files take (the upload and its Parquet copy), for the owner's storage quota.
    disk_bytes = models.BigIntegerField(default=0)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.UPLOADED)
    error = models.TextField(blank=True)
    dialect = models.JSONField(null=True, blank=True)
    # What reading the file changed, in sentences: column names made up for blank or repeated
    # ones.
    notes = models.JSONField(default=list, blank=True)
    n_rows = models.IntegerField(null=True, blank=True)
    n_columns = models.IntegerField(null=True, blank=True)
    profile = models.JSONField(null=True, blank=True)
    preview = models.JSONField(null=True, blank=True)
    # The analyst's corrections: {column: kind}, where the kind "excluded" leaves it out.
    kinds = models.JSONField(default=dict, blank=True)
    # Columns used as they are whatever the checks say: a suspected leak kept for training,
    # codes for "unknown" kept as values.
    keep = models.JSONField(default=list, blank=True)
    target = models.CharField(max_length=255, blank=True)
    # The profile with the analyst's kinds and target, computed on a worker after each change.
    target_profile = models.JSONField(null=True, blank=True)
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(auto_now=True)

    QUEUED, RUNNING = Status.UPLOADED, Status.PROCESSING

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def directory_root() -> Path:
        return Path(settings.MEDIA_ROOT) / "datasets"

    @property
    def directory(self) -> Path:
        return self.directory_root() / str(self.key)

    @property
    def upload_path(self) -> Path:
        return self.directory / f"upload{self.suffix}"

    @property
    def parquet_path(self) -> Path:
        return self.directory / "data.parquet"

    @property
    def in_use(self) -> bool:
        """Whether an experiment is queued or training on this data."""
        return self.experiments.filter(status__in=["queued", "running"]).exists()

    def deletion_blocker(self) -> str | None:
        """Why this dataset cannot be deleted now, or None."""
        if self.in_use:
            return IN_USE
        deployed = self.experiments.filter(candidates__versions__isnull=False)
        slugs = sorted(
            set(deployed.values_list("candidates__versions__deployment__slug", flat=True))
        )
        if slugs:
            return (
                f"A model trained on this dataset is deployed ({', '.join(slugs)}): delete "
                "that deployment first."
            )
        return None

    @property
    def is_final(self) -> bool:
        return self.status in (self.Status.READY, self.Status.FAILED)

    @classmethod
    def create_from_upload(cls, owner, uploaded, name: str = "") -> Dataset:
        """Store an uploaded file (already streamed to disk) and queue its ingestion.

        Raises ``ValueError`` for a file type it cannot read and ``QuotaExceeded`` past the
        owner's quotas, both with a message.
        """
        suffix = suffix_of(uploaded.name)
        dataset = cls(
            owner=owner,
            name=(name or uploaded.name)[:200],
            filename=uploaded.name[:255],
            suffix=suffix,
            size=uploaded.size,
            disk_bytes=uploaded.size,
        )
        with quotas.new_job(owner, incoming=uploaded.size), folder_for(dataset.directory):
            store_upload(uploaded, dataset.upload_path)
            dataset.save()
        dataset.send()
        return dataset

    # The ingestion's life, as the worker and the reaper move it along (see Job).
    @classmethod
    def celery_task(cls):
        from webapp.datasets.tasks import ingest_dataset

        return ingest_dataset

    def on_claim(self) -> None:
        self.error = ""

    def lost_worker_message(self) -> str:
        return (
            f"The worker reading this file stopped {self.attempts} times without finishing, "
            "most likely because the file needs more memory than this machine has. Try a "
            "smaller file, or fewer columns."
        )

    def read_after(self, moment) -> bool:
        """Whether the file was read (again) after ``moment``: its data may have changed."""
        try:
            modified = self.parquet_path.stat().st_mtime
        except FileNotFoundError:
            return True
        return modified > moment.timestamp()

    def reingest(self, dialect: dict | None = None) -> None:
        """Read the file again, with corrected reading options when given. ``ValueError``
        while a worker reads it, ``QuotaExceeded`` when the owner has too many jobs already."""
        if self.status == self.Status.PROCESSING and not self.is_stalled:
            raise ValueError("The file is being read now: wait for it to finish.")
        with quotas.new_job(self.owner):
            self.dialect = dialect
            self.status, self.error, self.attempts, self.runner = self.Status.UPLOADED, "", 0, ""
            self.profile = self.preview = self.target_profile = None
            self.notes = []
            self.save()
        self.send()

    def correct_kinds(self, changes: dict[str, str]) -> None:
        """Apply an analyst's kinds (``{column: kind}``); the inferred kind clears a correction.

        Raises ``ValueError`` with a message for unknown columns or kinds.
        """
        inferred = {c["name"]: c["kind"] for c in self.profile["columns"]}
        unknown = sorted(set(changes) - set(inferred))
        if unknown:
            raise ValueError(f"Unknown columns: {', '.join(map(repr, unknown))}.")
        bad = sorted({kind for kind in changes.values() if kind not in KIND_CHOICES})
        if bad:
            raise ValueError(f"Unknown kind {bad[0]!r}; use {', '.join(KIND_CHOICES)}.")
        for column, kind in changes.items():
            if kind == inferred[column]:
                self.kinds.pop(column, None)
            else:
                self.kinds[column] = kind
        self.choose_target(self.target)  # the target's analysis depends on the kinds

    def set_keep(self, columns: list[str], *, reprofile: bool = True) -> None:
        """Use ``columns`` (and no others) as they are whatever the checks say, and profile
        again unless the caller does. ``ValueError`` with a message for unknown columns."""
        known = [c["name"] for c in self.profile["columns"]]
        unknown = sorted(set(columns) - set(known))
        if unknown:
            raise ValueError(f"Unknown columns: {', '.join(map(repr, unknown))}.")
        self.keep = [name for name in known if name in columns]
        if reprofile:
            self.choose_target(self.target)

    def choose_target(self, target: str) -> None:
        """Set the column to predict ("" for none) and profile again on a worker, with the
        target and the analyst's kinds."""
        if target and target not in {c["name"] for c in self.profile["columns"]}:
            raise ValueError(f"Unknown column {target!r}.")
        self.target, self.target_profile = target, None
        self.save(update_fields=["kinds", "keep", "target", "target_profile", "updated"])
        if self.reprofile_pending:
            self.send_reprofile()

    def send_reprofile(self) -> None:
        from webapp.datasets.tasks import profile_target

        def queue_down():
            pending = Dataset.objects.filter(pk=self.pk, target=self.target,
                                             target_profile__isnull=True)  # fmt: skip
            pending.update(target_profile={"target": self.target, "error": QUEUE_DOWN})

        broker.send_on_commit(profile_target, self.pk, queue_down)

    @property
    def reprofile_pending(self) -> bool:
        """Whether the profile with the current target, kinds and kept columns is still being
        computed."""
        return (
            self.status == self.Status.READY
            and self.target_profile is None
            and bool(self.target or self.kinds or self.keep)
        )

    def suggested_targets(self) -> list[str]:
        return suggest_targets(self.profile["columns"]) if self.profile else []

    def mark_ready(self, *, dialect, notes, profile, preview) -> None:
        """End the ingestion with its results, unless another worker took it meanwhile."""
        self.mine().update(
            status=self.Status.READY, error="", dialect=dialect, notes=notes, profile=profile,
            preview=preview, n_rows=profile["n_rows"], n_columns=profile["n_columns"],
            disk_bytes=size_on_disk(self.directory), updated=timezone.now(),
        )  # fmt: skip
        self.refresh_from_db()

    def fail(self, reason: str) -> None:
        self.unfinished().update(status=self.Status.FAILED, error=reason, updated=timezone.now())
        self.refresh_from_db()

    # Reading the profile as the page and the API show it.
    def columns(self) -> list[dict]:
        """The profile's columns with the analyst's corrections applied."""
        if not self.profile:
            return []
        changed = self.kinds
        # A column read as another kind has other statistics (top values instead of a
        # histogram): those of the latest profile, once computed.
        current = {c["name"]: c for c in (self.target_profile or {}).get("columns", [])}
        columns = []
        for column in self.profile["columns"]:
            name = column["name"]
            kind = changed.get(name, column["kind"])
            latest = current.get(name)
            if latest and latest["kind"] == kind:
                column = {**column, "stats": latest["stats"],
                          "missing_values": latest.get("missing_values", [])}  # fmt: skip
            columns.append({**column, "kind": kind, "is_changed": name in changed,
                            "is_kept": name in self.keep})  # fmt: skip
        return columns

    def checks(self) -> list[dict]:
        """What the engine's checks found (``automl.checks``), alerts first; with the target's
        once its analysis is done (the table's alone while it waits, or if it failed)."""
        for source in (self.target_profile, self.profile):
            if source and "checks" in source:
                return source["checks"]
        return []


@receiver(post_delete, sender=Dataset)
def _remove_files(sender, instance: Dataset, **kwargs) -> None:
    # A signal, not delete(): deleting a user deletes their datasets in bulk.
    remove_directory_on_commit(instance.directory)


def suffix_of(filename: str) -> str:
    """The accepted suffix ``filename`` ends with; ``ValueError`` with a message otherwise."""
    lowered = filename.lower()
    for suffix in SUFFIXES:
        if lowered.endswith(suffix):
            return suffix
    raise ValueError(
        f"“{filename}” is not a supported file: upload a .csv, .tsv, .txt (optionally .gz), "
        ".xlsx or .parquet file."
    )
