"""Every model of the platform is in the admin, and each list and record page opens."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse

from webapp.deployments.models import Batch

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_model_is_in_the_admin():
    models = [m for m in apps.get_models() if m.__module__.startswith("webapp.")]
    assert len(models) >= 10
    assert [m.__name__ for m in models if m not in admin.site._registry] == []


def test_each_list_and_record_page_opens(client, deployed, sent):
    deployment, _ = deployed
    Batch.objects.create(deployment=deployment, version=deployment.current, filename="x.csv")
    root = get_user_model().objects.create_superuser("root", password="a long admin password")
    client.force_login(root)
    for model in admin.site._registry:
        meta = model._meta
        listing = client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        assert listing.status_code == 200, meta.label
        for row in model.objects.all()[:2]:
            page = client.get(
                reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[row.pk])
            )
            assert page.status_code == 200, meta.label
    page = client.get(reverse("admin:deployments_deployment_change", args=[deployment.pk]))
    assert "first key" in page.content.decode() and "Versions" in page.content.decode()
