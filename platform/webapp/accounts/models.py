from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from webapp.lib import keys
from webapp.lib.ownership import OwnedModel

# Writing last_used on every request would turn each API read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)
INVITATION_LIFETIME = timedelta(days=7)


class ApiToken(OwnedModel):
    """A personal token for the JSON API. The key is shown once; only its digest is kept."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(
        max_length=12, help_text="The key's first characters, to tell keys apart."
    )
    digest = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(default=timezone.now)
    last_used = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, owner, name: str) -> tuple[ApiToken, str]:
        """Create a token for ``owner``; return it with the key, which is never stored."""
        key = keys.generate("aml")
        token = cls.objects.create(owner=owner, name=name, prefix=key[:12], digest=keys.digest(key))
        return token, key

    @classmethod
    def user_for_key(cls, key: str):
        """The active user whose token this key is, or None."""
        token = (
            cls.objects.select_related("owner")
            .filter(digest=keys.digest(key), owner__is_active=True)
            .first()
        )
        if token is None:
            return None
        now = timezone.now()
        if token.last_used is None or now - token.last_used > LAST_USED_RESOLUTION:
            cls.objects.filter(pk=token.pk).update(last_used=now)
        return token.owner


class FirstAccount(models.Model):
    """One row, locked while a sign-up checks whether it makes the install's first account:
    two people opening a fresh install at once cannot both become its administrator."""

    class Meta:
        verbose_name = "first-account lock"

    def __str__(self) -> str:
        return "first-account lock"

    @classmethod
    def lock(cls) -> None:
        """Take the lock until the current transaction ends."""
        cls.objects.select_for_update().get_or_create(pk=1)


class Quota(models.Model):
    """What one user may use, where an administrator changed the defaults (``QUOTA_*``)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quota"
    )
    storage = models.BigIntegerField(
        null=True, blank=True, help_text="Bytes of uploads, models and scored files."
    )
    experiments = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Experiments running or queued at once."
    )
    jobs = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Jobs waiting or running at once, experiments included."
    )

    def __str__(self) -> str:
        return f"quota of {self.user}"


class Invitation(models.Model):
    """A link that lets one person create an account while sign-up is closed; only the key's
    digest is kept, and the link works once, for ``INVITATION_DAYS``."""

    prefix = models.CharField(max_length=12)
    digest = models.CharField(max_length=64, unique=True)
    note = models.CharField(max_length=200, blank=True, help_text="Who it is for.")
    is_staff = models.BooleanField(default=False, help_text="The account administers too.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(default=timezone.now)
    expires = models.DateTimeField()
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    accepted = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"invitation {self.prefix}… ({self.note or 'no note'})"

    @classmethod
    def issue(cls, created_by, *, note: str = "", is_staff: bool = False) -> tuple[Invitation, str]:
        key = keys.generate("inv")
        invitation = cls.objects.create(
            prefix=key[:12], digest=keys.digest(key), note=note, is_staff=is_staff,
            created_by=created_by, expires=timezone.now() + INVITATION_LIFETIME,
        )  # fmt: skip
        return invitation, key

    @classmethod
    def pending(cls) -> models.QuerySet:
        return cls.objects.filter(accepted__isnull=True, expires__gt=timezone.now())

    @classmethod
    def find(cls, key: str) -> Invitation | None:
        """The pending invitation this key opens, or None."""
        return cls.pending().filter(digest=keys.digest(key)).first()
