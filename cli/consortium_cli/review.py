"""`consortium review`: the versions awaiting your review, everything a reviewer weighs about one
of them, and your decision. Reviewers review other member orgs' versions, never their own org's;
a token reviews only with the `review` scope."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from consortium_cli import refs
from consortium_cli.client import Api, ApiError
from consortium_cli.display import (
    checks_of,
    checks_text,
    emit,
    err,
    evidence_items,
    lineage_lines,
    publication_text,
    readme_excerpt,
    reference,
    reviews_text,
    when,
)
from consortium_cli.refs import pinned_version

# command → (the API's decision, help)
DECISIONS = {
    "approve": ("approve", "approve a version: it counts toward its kind's quorum"),
    "request-changes": ("request_changes", "send a version back to its org (-m required: what must change)"),
    "reject": ("reject", "reject a version for good (-m required: why)"),
}
WHY = {"request-changes": "say what must change", "reject": "say why it is rejected"}


def register(sub: argparse._SubParsersAction) -> None:
    review = sub.add_parser("review", help="review versions of other member orgs (consortium reviewers)")
    actions = review.add_subparsers(dest="review_command", required=True)
    queue = actions.add_parser("list", help="versions awaiting your review, oldest first")
    queue.add_argument("--kind", help="only this artifact kind")
    queue.add_argument("--org", help="only this organization's versions")
    queue.add_argument("--all", action="store_true", help="include the versions you already reviewed")
    show = actions.add_parser("show", help="a version with its checks, evidence and reviews")
    show.add_argument("ref", help="org/name@version or a version id")
    for name, (_, about) in DECISIONS.items():
        decide = actions.add_parser(name, help=about)
        decide.add_argument("ref", help="org/name@NUMBER or a version id (never @latest)")
        decide.add_argument("-m", "--message", dest="comment", default="", help="your comment to the pushing org")


def cmd_review(args: argparse.Namespace, api: Api) -> int:
    if args.review_command == "list":
        return _list(args, api)
    if args.review_command == "show":
        return _show(args, api)
    return _decide(args, api)


def _not_a_reviewer(api: Api) -> str | None:
    """Why the caller has no review queue, when that is the reason."""
    me = api.get("/me/")
    if me["is_reviewer"]:
        return None
    if me["token"] is not None and "review" not in me["token"]["scopes"]:
        return "you are not a consortium reviewer, or this token lacks the `review` scope"
    return "you are not a consortium reviewer"


def _list(args: argparse.Namespace, api: Api) -> int:
    rows = list(api.pages("/review-queue/", kind=args.kind, org=args.org, reviewed="true" if args.all else None))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        why = _not_a_reviewer(api)
        Console().print(f"nothing awaits your review{f': {why}' if why else ''}", markup=False)
        return 0
    table = Table("version", "kind", "id", "waiting since", "approvals", "yours")
    for v in rows:
        review = v["review"]
        table.add_row(
            escape(reference(v)),
            v["artifact"]["kind"],
            v["id"],
            when(v["state_changed_at"]),
            f"{review['approvals']}/{review['approvals_required']}",
            review["mine"] or "-",
        )
    Console().print(table)
    return 0


def _pairs(values: dict[str, Any]) -> str:
    return "; ".join(evidence_items(values)) if values else "not declared"


def _show(args: argparse.Namespace, api: Api) -> int:
    version = refs.version_of(api, args.ref)
    checks = checks_of(api, version)
    reviews = api.get(f"/versions/{version['id']}/reviews/")
    lineage = api.get(f"/versions/{version['id']}/lineage/")
    release = version["release_target"]
    if version["release_at"]:
        release += f", embargoed until {when(version['release_at'])}"
    lines = [
        f"{reference(version)} ({version['artifact']['kind']}): {version['state']} since "
        f"{when(version['state_changed_at'])}",
        f"id {version['id']}; pushed by {version['created_by']}; manifest {version['manifest_sha256'] or '-'}",
        f"license {version['license']}; release {release}",
        f"compute: {_pairs(version['compute'])}",
        f"metadata: {_pairs(version['metadata'])}",
        "lineage:" + ("".join(f"\n  {line}" for line in lineage_lines(lineage)) or " none declared"),
        "README:",
        *(f"  | {line}" for line in readme_excerpt(version["readme"])),
        checks_text(checks, evidence=True),
        reviews_text(reviews),
    ]
    if publication := publication_text(version):
        lines.append(publication)
    emit(args, {**version, "checks": checks, "lineage": lineage, "reviews": reviews}, "\n".join(lines))
    return 0


def _decide(args: argparse.Namespace, api: Api) -> int:
    command, comment = args.review_command, args.comment.strip()
    if command in WHY and not comment:
        raise ValueError(f"review {command} needs -m COMMENT: {WHY[command]}")
    version = pinned_version(api, args.ref, f"review {command}")
    decision = DECISIONS[command][0]
    try:
        review = api.post(f"/versions/{version['id']}/reviews/", {"decision": decision, "comment": comment})
    except ApiError as exc:
        if exc.status == 403 and (why := _not_a_reviewer(api)):
            err.print(f"({why})", markup=False)
        raise
    try:
        after: dict[str, Any] | None = api.get(f"/versions/{version['id']}/")
    except ApiError:  # a reviewer sees versions in review only: once decided it may be out of sight
        after = None
    state = after["state"] if after else "out of your sight (it left review)"
    emit(
        args,
        {"review": review, "version": after},
        f"{review['decision']} by {review['reviewer']} for {review['organization']} on {reference(version)}: "
        f"the version is now {state}",
    )
    return 0
