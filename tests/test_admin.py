"""The Django admin lists every model, and keeps the ones with invariants read-only."""

import pytest
from django.contrib import admin
from django.test import Client

from registry import models as m
from tests.conftest import Member
from tests.factories import ArtifactFactory, UserFactory, VersionFactory

pytestmark = pytest.mark.django_db


def test_every_registry_model_is_in_the_admin() -> None:
    registered = {model for model in admin.site._registry if model._meta.app_label == "registry"}
    assert registered == {getattr(m, name) for name in m.__all__ if hasattr(getattr(m, name), "_meta")}


def test_each_changelist_and_change_page_renders_for_an_operator(alice: Member) -> None:
    VersionFactory(artifact=ArtifactFactory(organization=alice.organization))
    alice.token("read")
    operator = UserFactory(username="ops", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(operator)
    for model in admin.site._registry:
        if model._meta.app_label != "registry":
            continue
        url = f"/admin/registry/{model._meta.model_name}/"
        assert client.get(url).status_code == 200, url
        first = model._default_manager.first()
        if first is not None:
            assert client.get(f"{url}{first.pk}/change/").status_code == 200, url


def test_versions_tokens_and_the_audit_log_cannot_be_edited_in_the_admin(alice: Member) -> None:
    version = VersionFactory(artifact=ArtifactFactory(organization=alice.organization))
    client = Client()
    client.force_login(UserFactory(username="ops", is_staff=True, is_superuser=True))
    response = client.post(f"/admin/registry/version/{version.pk}/change/", {"state": "published"})
    assert response.status_code == 403
    version.refresh_from_db()
    assert version.state == "draft"
    assert client.get("/admin/registry/auditevent/add/").status_code == 403
