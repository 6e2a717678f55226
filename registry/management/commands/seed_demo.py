"""Seed a demo consortium: two member orgs with an owner and a reviewer each, a steward, a push
token for the first org's owner and a review token for the second org's reviewer (printed once).
Running it again changes nothing and prints no token. It also says whether the demo catalogue (the
versions `seed_catalogue` pushes through the running registry) is seeded, absent or partial."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from registry.actors import Actor
from registry.demo.catalogue import catalogue_status
from registry.models import ApiToken, Membership, Organization, User
from registry.permissions import Role, Scope
from registry.services.organizations import membership_add, organization_create
from registry.services.tokens import token_issue

ORGS = [
    {"slug": "aurora", "name": "Aurora Research Lab", "country": "FR", "hub_namespace": "aurora-lab"},
    {"slug": "borealis", "name": "Borealis AI", "country": "CA", "hub_namespace": "borealis-ai"},
]


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", dest="as_json", action="store_true", help="print the logins and token as JSON")

    def handle(self, *args: Any, as_json: bool = False, **options: Any) -> None:
        logins_path = Path(settings.VAR_DIR) / "demo-logins.json"
        logins = _load(logins_path)
        steward = self._user(
            logins, "steward", "steward: sees everything, overrides", is_steward=True, is_staff=True, is_superuser=True
        )
        tokens: list[dict[str, Any]] = []
        for org_spec in ORGS:
            slug = org_spec["slug"]
            owner = self._user(logins, f"{slug}-owner", f"owner of {slug}")
            reviewer = self._user(
                logins, f"{slug}-reviewer", f"consortium reviewer, contributor in {slug}", is_reviewer=True
            )
            org = Organization.objects.filter(slug=slug).first()
            if org is None:
                org = organization_create(actor=Actor.for_user(steward), owner=owner, **org_spec)
            if not Membership.objects.filter(organization=org, user=reviewer).exists():
                membership_add(actor=Actor.for_user(owner), organization=org, user=reviewer, role=Role.CONTRIBUTOR)
            if not ApiToken.objects.filter(organization=org).exists():
                # The first org pushes; the second org's reviewer reviews what the first pushes.
                user, name, scopes = (
                    (owner, "demo push token", [Scope.READ.value, Scope.PUSH.value, Scope.WEBHOOKS.value])
                    if slug == ORGS[0]["slug"]
                    else (reviewer, "demo review token", [Scope.READ.value, Scope.REVIEW.value])
                )
                issued, secret = token_issue(actor=Actor.for_user(user), organization=org, name=name, scopes=scopes)
                tokens.append(
                    {"organization": slug, "username": user.username, "scopes": issued.scopes, "secret": secret}
                )
        logins_path.parent.mkdir(parents=True, exist_ok=True)
        logins_path.write_text(_dumps(list(logins.values())))
        logins_path.chmod(0o600)
        result = {"users": list(logins.values()), "tokens": tokens, "catalogue": catalogue_status()}
        self.stdout.write(_dumps(result) if as_json else _describe(result))

    @staticmethod
    def _user(logins: dict[str, dict[str, str]], username: str, about: str, **flags: bool) -> User:
        user = User.objects.filter(username=username).first()
        if user is None:
            password = secrets.token_urlsafe(12)
            user = User.objects.create_user(
                username=username, password=password, email=f"{username}@example.org", **flags
            )
            logins[username] = {"username": username, "password": password, "about": about}
        return user


def _load(path: Path) -> dict[str, dict[str, str]]:
    if not path.exists():
        return {}
    return {entry["username"]: entry for entry in json.loads(path.read_text())}


def _dumps(value: Any) -> str:
    return json.dumps(value, indent=2)


def _describe(result: dict[str, Any]) -> str:
    lines = [f"{u['username']}: {u['password']} ({u['about']})" for u in result["users"]]
    lines += [f"token of {t['username']} ({', '.join(t['scopes'])}): {t['secret']}" for t in result["tokens"]]
    lines.append(f"demo catalogue: {result['catalogue']}")
    return "\n".join(lines)
