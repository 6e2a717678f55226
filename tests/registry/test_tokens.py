"""Tokens: stored as digests only, expiring, revocable, scoped, never more than their org."""

from datetime import timedelta

import pytest
from django.core import serializers
from django.utils import timezone
from rest_framework.test import APIClient

from registry.errors import DomainError, Forbidden
from registry.models import ApiToken, AuditEvent, IdempotencyRecord
from registry.permissions import Role
from registry.services.tokens import token_authenticate, token_issue, token_revoke
from tests.conftest import Member, bearer
from tests.factories import member

pytestmark = pytest.mark.django_db


def test_the_database_holds_no_usable_token(alice: Member, api_client) -> None:
    api_client.force_login(alice.user)
    issued = api_client.post(
        f"/api/v1/organizations/{alice.organization.slug}/tokens/",
        {"name": "ci", "scopes": ["read", "push"]},
        HTTP_IDEMPOTENCY_KEY="issue-1",
    )
    secret = issued.json()["secret"]
    dump = "".join(
        serializers.serialize("json", model.objects.all()) for model in (ApiToken, AuditEvent, IdempotencyRecord)
    )
    body = secret.removeprefix("ocr_")
    assert body not in dump
    assert body[8:] not in dump  # only the 8-character lookup prefix is stored in clear
    stored = ApiToken.objects.get()
    # What is stored does not authenticate: neither the digest nor the lookup is a token.
    assert token_authenticate("ocr_" + stored.digest) == (None, "unknown token")
    assert token_authenticate("ocr_" + stored.lookup)[0] is None
    assert token_authenticate(secret)[0] == stored


def test_token_works_until_expiry_then_is_refused_with_the_reason(alice: Member, api_client) -> None:
    token, secret = alice.token("read")
    assert bearer(api_client, secret).get("/api/v1/me/").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = api_client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "token expired"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_revocation_takes_effect_on_the_next_request(alice: Member, api_client) -> None:
    token, secret = alice.token("read")
    client = bearer(api_client, secret)
    assert client.get("/api/v1/me/").status_code == 200
    token_revoke(actor=alice.actor, token=token)
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "token revoked"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Bearer ocr_not-a-real-token-at-all", "unknown token"),
        ("Bearer ghp_othertool", "not a registry token (tokens start with 'ocr_')"),
        ("Bearer ", "empty bearer token"),
    ],
)
def test_bad_bearer_tokens_are_401_naming_the_problem(api_client, header: str, reason: str) -> None:
    response = api_client.get("/api/v1/me/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["error"]["message"] == reason


def test_a_token_in_the_query_string_is_not_accepted(alice: Member, api_client) -> None:
    _, secret = alice.token("read")
    for param in ("token", "access_token", "api_key"):
        assert api_client.get("/api/v1/me/", {param: secret}).status_code == 401


def test_a_token_acts_for_its_own_org_only_even_when_its_creator_is_in_two(alice: Member, org_b, api_client) -> None:
    member_of_both = member(alice.organization, Role.OWNER, username="dora")
    from registry.models import Membership

    Membership.objects.create(user=member_of_both, organization=org_b, role=Role.OWNER)
    _, secret = Member(member_of_both, alice.organization).token("read")
    me = bearer(api_client, secret).get("/api/v1/me/").json()
    assert [o["slug"] for o in me["organizations"]] == [alice.organization.slug]


def test_a_token_loses_its_powers_when_its_creator_leaves_the_org(alice: Member, bob: Member, api_client) -> None:
    _, secret = bob.token("read")
    bob.user.memberships.all().delete()
    me = bearer(api_client, secret).get("/api/v1/me/").json()
    assert me["organizations"] == []


def test_a_member_cannot_grant_scopes_beyond_their_role(bob: Member) -> None:
    with pytest.raises(Forbidden, match=r"role 'viewer' .* cannot grant the scopes \['push'\]"):
        bob.token("read", "push")
    with pytest.raises(Forbidden, match="review"):
        bob.token("read", "review")  # bob is no consortium reviewer


def test_scopes_and_expiry_are_validated(alice: Member) -> None:
    with pytest.raises(DomainError, match="scopes"):
        alice.token("admin")
    with pytest.raises(DomainError, match="future"):
        token_issue(
            actor=alice.actor,
            organization=alice.organization,
            name="x",
            scopes=["read"],
            expires_at=timezone.now() - timedelta(days=1),
        )
    with pytest.raises(DomainError, match="at most"):
        token_issue(
            actor=alice.actor,
            organization=alice.organization,
            name="x",
            scopes=["read"],
            expires_at=timezone.now() + timedelta(days=5000),
        )


def test_tokens_cannot_mint_tokens(alice: Member, api_client) -> None:
    _, secret = alice.token("read", "push")
    response = bearer(api_client, secret).post(
        f"/api/v1/organizations/{alice.organization.slug}/tokens/", {"name": "child", "scopes": ["read"]}
    )
    assert response.status_code == 403
    assert "signed-in session" in response.json()["error"]["message"]
    assert ApiToken.objects.count() == 1


def test_issuing_through_the_api_shows_the_secret_once(alice: Member, api_client) -> None:
    api_client.force_login(alice.user)
    created = api_client.post(
        f"/api/v1/organizations/{alice.organization.slug}/tokens/", {"name": "ci", "scopes": ["read", "push"]}
    )
    assert created.status_code == 201
    secret = created.json()["secret"]
    assert secret.startswith("ocr_")
    listed = api_client.get(f"/api/v1/organizations/{alice.organization.slug}/tokens/").json()
    assert len(listed["results"]) == 1
    assert "secret" not in listed["results"][0]
    assert secret not in str(listed)
    assert AuditEvent.objects.filter(action="token.issued").count() == 1


def test_owner_revokes_any_org_token_others_only_their_own(alice: Member, bob: Member, api_client) -> None:
    token, _ = alice.token("read")
    api_client.force_login(bob.user)
    # bob cannot even see alice's token, so revoking it is a 404
    response = api_client.delete(f"/api/v1/organizations/{alice.organization.slug}/tokens/{token.public_id}/")
    assert response.status_code == 404
    bob_token, _ = bob.token("read")
    api_client.force_login(alice.user)
    response = api_client.delete(f"/api/v1/organizations/{alice.organization.slug}/tokens/{bob_token.public_id}/")
    assert response.status_code == 204
    bob_token.refresh_from_db()
    assert bob_token.revoked_at is not None


def test_a_retried_issue_never_shows_the_secret_again_nor_makes_a_second_token(alice: Member, api_client) -> None:
    api_client.force_login(alice.user)
    url = f"/api/v1/organizations/{alice.organization.slug}/tokens/"
    first = api_client.post(url, {"name": "ci", "scopes": ["read"]}, HTTP_IDEMPOTENCY_KEY="k")
    again = api_client.post(url, {"name": "ci", "scopes": ["read"]}, HTTP_IDEMPOTENCY_KEY="k")
    assert first.status_code == 201
    assert first["Cache-Control"] == "no-store"
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "idempotency_secret_withheld"
    assert first.json()["secret"] not in again.content.decode()
    assert ApiToken.objects.count() == 1


def test_a_deactivated_users_tokens_stop_working(alice: Member, api_client) -> None:
    _, secret = alice.token("read")
    alice.user.is_active = False
    alice.user.save()
    response = bearer(api_client, secret).get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "the token's user is deactivated"


def test_removing_a_member_revokes_their_tokens_so_re_adding_revives_none(
    alice: Member, bob: Member, api_client
) -> None:
    _, secret = bob.token("read")
    api_client.force_login(alice.user)
    base = f"/api/v1/organizations/{alice.organization.slug}/memberships/"
    assert api_client.delete(f"{base}bob/").status_code == 204
    assert api_client.post(base, {"username": "bob", "role": "viewer"}).status_code == 201
    response = bearer(APIClient(), secret).get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "token revoked"
    removed = AuditEvent.objects.get(action="membership.removed")
    assert removed.data["tokens_revoked"] == 1
