"""`consortium withdraw` and `consortium publish`: take a version back (its org's owners or a
steward; the reason is kept in the audit log), or try a failed publication to the Hub again."""

from __future__ import annotations

import argparse

from consortium_cli.client import Api
from consortium_cli.display import emit, version_text
from consortium_cli.refs import pinned_version


def register(sub: argparse._SubParsersAction) -> None:
    withdraw = sub.add_parser("withdraw", help="withdraw a version (org owners, stewards)")
    withdraw.add_argument("ref", help="org/name@NUMBER or a version id (never @latest)")
    withdraw.add_argument("--reason", required=True, help="why; kept in the audit log")
    publish = sub.add_parser("publish", help="retry a failed publication to the Hub (org pushers, stewards)")
    publish.add_argument("ref", help="org/name@NUMBER or a version id (never @latest)")


def cmd_withdraw(args: argparse.Namespace, api: Api) -> int:
    reason = args.reason.strip()
    if not reason:
        raise ValueError("withdraw needs --reason TEXT: it is kept in the audit log")
    version = pinned_version(api, args.ref, "withdraw")
    withdrawn = api.post(f"/versions/{version['id']}/withdraw/", {"reason": reason})
    emit(args, withdrawn, version_text(withdrawn))
    return 0


def cmd_publish(args: argparse.Namespace, api: Api) -> int:
    version = pinned_version(api, args.ref, "publish")
    queued = api.post(f"/versions/{version['id']}/publish/")
    emit(args, queued, version_text(queued))
    return 0
