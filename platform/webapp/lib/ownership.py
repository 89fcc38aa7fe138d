"""One mechanism for "everything a user creates belongs to them; others get 404".

Owned models inherit ``OwnedModel``; views and API endpoints fetch through
``get_owned_or_404``, so a missing object and someone else's object look the same and ids
reveal nothing.
"""

from __future__ import annotations

from typing import TypeVar

from django.conf import settings
from django.db import models
from django.shortcuts import get_object_or_404

M = TypeVar("M", bound="OwnedModel")


class OwnedQuerySet(models.QuerySet):
    def owned_by(self, user) -> OwnedQuerySet:
        if not user.is_authenticated:
            return self.none()
        return self.filter(owner=user)


class OwnedModel(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    objects = OwnedQuerySet.as_manager()

    class Meta:
        abstract = True


def get_owned_or_404(model: type[M], user, **lookup) -> M:
    """The ``model`` row matching ``lookup`` that ``user`` owns; ``Http404`` for anything else."""
    return get_object_or_404(model.objects.owned_by(user), **lookup)
