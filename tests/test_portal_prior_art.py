"""Prior art where readers see it: a recipe's matches on its page and in the API (each reader only
those they can see), the acknowledgement form for its org's pushers, and the search page."""

from __future__ import annotations

import re

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from jobs.models import Acknowledgement, PriorArtMatch
from registry.models import Organization, Sharing, Version
from tests.conftest import Member, portal_client
from tests.corpus import recipes
from tests.factories import ArtifactFactory, VersionFactory
from tests.jobs.test_prior_art_search import changed_lr, recipe_version

pytestmark = pytest.mark.django_db
State = Version.State
ACKNOWLEDGE = "Acknowledge: we will not re-run this"


def recipe(org: Organization, slug: str, **fields: object) -> Version:
    artifact = ArtifactFactory(
        organization=org, slug=slug, kind="pretraining_recipe", sharing=fields.pop("sharing", "org")
    )
    return VersionFactory(artifact=artifact, number="1.0", **fields)


def matched(version: Version, match: Version, rank: int, difference: str) -> None:
    name = f"{match.artifact.organization.slug}/{match.artifact.slug}@1.0"
    comparison = {
        "groups": {},
        "differences": [{"field": "lr", "mine": 3e-4, "theirs": 1e-4, "text": difference}],
        "summary": f"same as {name} except {difference}",
    }
    PriorArtMatch.objects.create(
        version=version, match=match, rank=rank, score=0.95, near_duplicate=True, comparison=comparison
    )


@pytest.fixture
def pushed(alice: Member, org_b: Organization) -> tuple[Version, Version, Version]:
    """Org A's published recipe, matched with org B's published one and with an org-only recipe of A."""
    ours = recipe(alice.organization, "ours", state=State.PUBLISHED)
    public = recipe(org_b, "public-run", state=State.PUBLISHED)
    private = recipe(alice.organization, "private-run", state=State.IN_REVIEW)
    matched(ours, public, 1, "lr 3e-4 vs 1e-4")
    matched(ours, private, 2, "lr 3e-4 vs 2e-4")
    return ours, public, private


def prior_art_section(page: str) -> str:
    found = re.search(r'<section aria-labelledby="prior-art-heading">.*?</section>', page, re.S)
    assert found, "a recipe's page has a Prior art section"
    return found.group(0)


def test_each_reader_sees_only_the_matches_they_can_see_on_the_page_and_in_the_api(
    alice: Member, charlie: Member, pushed: tuple[Version, Version, Version]
) -> None:
    ours, public, _ = pushed
    mine = prior_art_section(portal_client(alice).get(f"/versions/{ours.public_id}/").content.decode())
    assert "org-b/public-run@1.0" in mine
    assert "org-a/private-run@1.0" in mine
    assert f'href="/versions/{public.public_id}/"' in mine
    assert "near-duplicate" in mine
    assert "lr 3e-4 vs 1e-4" in mine

    theirs = prior_art_section(portal_client(charlie).get(f"/versions/{ours.public_id}/").content.decode())
    assert "org-b/public-run@1.0" in theirs
    assert "private-run" not in theirs
    assert "2e-4" not in theirs

    api = APIClient()
    api.force_authenticate(charlie.user)
    listed = api.get(f"/api/v1/versions/{ours.public_id}/").json()["prior_art"]
    assert listed == [
        {
            "id": str(public.public_id),
            "name": "org-b/public-run@1.0",
            "score": 0.95,
            "near_duplicate": True,
            "differences": [{"field": "lr", "mine": 3e-4, "theirs": 1e-4, "text": "lr 3e-4 vs 1e-4"}],
            "summary": "same as org-b/public-run@1.0 except lr 3e-4 vs 1e-4",
        }
    ]
    api.force_authenticate(alice.user)
    assert [m["name"] for m in api.get(f"/api/v1/versions/{ours.public_id}/").json()["prior_art"]] == [
        "org-b/public-run@1.0",
        "org-a/private-run@1.0",
    ]
    assert api.get(f"/api/v1/versions/{public.public_id}/").json()["prior_art"] == []
    other = VersionFactory(artifact=ArtifactFactory(organization=alice.organization, kind="dataset"))
    assert api.get(f"/api/v1/versions/{other.public_id}/").json()["prior_art"] is None


def test_only_a_pusher_of_the_versions_org_acknowledges_another_orgs_match(
    alice: Member, bob: Member, charlie: Member, pushed: tuple[Version, Version, Version]
) -> None:
    ours, public, private = pushed
    url = f"/versions/{ours.public_id}/prior-art/{public.public_id}/acknowledge/"
    for reader in (bob, charlie):  # a viewer of A; a member of B, who sees the version but may not push in A
        assert ACKNOWLEDGE not in portal_client(reader).get(f"/versions/{ours.public_id}/").content.decode()
        assert portal_client(reader).post(url, {"note": "me"}).status_code == 403
    own = f"/versions/{ours.public_id}/prior-art/{private.public_id}/acknowledge/"
    assert portal_client(charlie).post(own, {"note": "x"}).status_code == 404, "a match charlie cannot see"
    assert not Acknowledgement.objects.exists()

    section = prior_art_section(portal_client(alice).get(f"/versions/{ours.public_id}/").content.decode())
    assert section.count(ACKNOWLEDGE) == 1, "for org B's run, not for A's own"
    response = portal_client(alice).post(url, {"note": "we build on it"}, follow=True)
    assert response.status_code == 200
    found = Acknowledgement.objects.get()
    assert (found.organization, found.source, found.via, found.note) == (
        alice.organization,
        public,
        ours,
        "we build on it",
    )
    section = prior_art_section(response.content.decode())
    assert '<span class="state state-passed">acknowledged</span>' in section
    assert ACKNOWLEDGE not in section


def test_the_search_page_ranks_what_the_member_sees_and_lists_a_bad_recipes_problems(
    alice: Member, org_b: Organization
) -> None:
    recipe_version(org_b, "tiny", recipes.pretraining_recipe())
    recipe_version(org_b, "secret", changed_lr("2.5e-4"), state=State.IN_REVIEW, sharing=Sharing.ORG)
    assert portal_client(None).get("/prior-art/").status_code == 302, "signed-in members only"
    client = portal_client(alice)
    assert 'href="/prior-art/"' in client.get("/").content.decode(), "in the navigation"

    pasted = client.post("/prior-art/", {"recipe": yaml.safe_dump(changed_lr("2.5e-4"))})
    page = pasted.content.decode()
    assert pasted.status_code == 200
    assert "org-b/tiny@1.0" in page
    assert "lr 2.5e-4 vs 3e-4" in page
    assert "near-duplicate" in page
    assert "secret" not in page

    upload = SimpleUploadedFile("recipe.yaml", yaml.safe_dump(changed_lr("2.5e-4")).encode())
    assert "org-b/tiny@1.0" in client.post("/prior-art/", {"file": upload}).content.decode()

    bad = client.post("/prior-art/", {"recipe": yaml.safe_dump(changed_lr("fast"))})
    assert bad.status_code == 400
    assert "<li>optimizer.lr: Input should be a valid number" in bad.content.decode()
    broken = client.post("/prior-art/", {"recipe": "name: [unclosed"}).content.decode()
    assert "<li>invalid YAML: line 1, column" in broken
