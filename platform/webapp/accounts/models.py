from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.utils import timezone

from webapp.lib import keys
from webapp.lib.ownership import OwnedModel

# Writing last_used on every request would turn each API read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


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
