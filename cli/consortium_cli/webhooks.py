"""`consortium webhooks`: an org's webhooks (HTTP endpoints that receive its events, signed) and
their delivery logs. Its owners register, switch on and off, re-key, replay and remove them with a
token scoped `webhooks`; reading needs `read`. Ids are full UUIDs or a unique prefix of one (at
least 8 characters), matched against the org's webhooks or the webhook's deliveries."""

from __future__ import annotations

import argparse
import json
import uuid
from itertools import islice
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from consortium_cli.client import Api, ApiError
from consortium_cli.display import emit, err, when

READS = {"list", "show", "deliveries", "delivery"}
MIN_PREFIX = 8
SHORT_ID = 8  # id characters shown in tables
RECENT = 10  # deliveries `show` lists
ERROR_CHARS = 120
PREFIX_CHARS = 80  # of a response body, in the attempt table (--json has what the registry kept)
KEEP_IT = (
    "Save this secret now: it is not shown again.\nVerify each delivery's signature with it: see docs/webhooks.md."
)


def register(sub: argparse._SubParsersAction) -> None:
    webhooks = sub.add_parser("webhooks", help="your org's webhooks and their delivery logs (org owners)")
    actions = webhooks.add_subparsers(dest="webhooks_command", required=True)

    def action(name: str, about: str, *ids: str) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, help=about)
        parser.add_argument("--org", required=True, help="the org's slug")
        for dest in ids:
            parser.add_argument(dest, help="a full id or a unique prefix of it (8 characters at least)")
        return parser

    action("list", "the org's webhooks: events, on or off, failures in a row")
    add = action("add", "register an endpoint; prints its signing secret once")
    add.add_argument("endpoint", metavar="URL", help="an http(s) URL on a public address")
    add.add_argument(
        "--event", dest="events", action="append", required=True, metavar="TYPE", help="an event type (repeatable)"
    )
    add.add_argument("--description", default="", help="what the endpoint is for")
    add.add_argument(
        "--source",
        choices=["own", "visible"],
        default="own",
        help="own: the org's own versions (default); visible: every version the org can see",
    )
    show = action("show", "one webhook with its latest deliveries", "id")
    show.add_argument("--limit", type=int, default=RECENT, help="deliveries shown")
    deliveries = action("deliveries", "a webhook's delivery log, newest first", "id")
    deliveries.add_argument("--limit", type=int, default=50, help="deliveries shown")
    action("delivery", "one delivery with each attempt", "webhook_id", "delivery_id")
    action("replay", "send a delivery's event again, as a new delivery", "webhook_id", "delivery_id")
    action("enable", "switch a webhook on (clears its run of failures)", "id")
    action("disable", "switch a webhook off: nothing is sent to it", "id")
    action("rotate-secret", "a new signing secret, printed once; the old one stops at once", "id")
    action("remove", "delete a webhook and its delivery log", "id")


def cmd_webhooks(args: argparse.Namespace, api: Api) -> int:
    handler = {
        "list": _list,
        "add": _add,
        "show": _show,
        "deliveries": _deliveries,
        "delivery": _delivery,
        "replay": _replay,
        "enable": _switch,
        "disable": _switch,
        "rotate-secret": _rotate,
        "remove": _remove,
    }[args.webhooks_command]
    try:
        return handler(args, api)
    except ApiError as exc:
        if exc.status == 403 and args.webhooks_command not in READS and (why := _cannot_write(api, args.org)):
            err.print(f"({why})", markup=False)
        raise


def _cannot_write(api: Api, org: str) -> str | None:
    """Why the caller may not change the org's webhooks, when the token or role says so."""
    try:
        me = api.get("/me/")
    except ApiError:  # a token without `read`: the refusal already says so
        return None
    if me["token"] is not None and "webhooks" not in me["token"]["scopes"]:
        return "changing webhooks needs a token with the `webhooks` scope, which only the org's owners can issue"
    if not any(o["slug"] == org and o["role"] == "owner" for o in me["organizations"]):
        return f"only owners of '{org}' change its webhooks"
    return None


def _base(org: str) -> str:
    return f"/organizations/{org}/webhooks/"


def _resolve(api: Api, listing: str, ref: str, what: str, where: str) -> str:
    """The full id `ref` names: a UUID as given, else the one id in `listing` starting with it
    (dashes and case aside)."""
    try:
        return str(uuid.UUID(ref))
    except ValueError:
        pass
    prefix = ref.strip().lower().replace("-", "")
    if len(prefix) < MIN_PREFIX:
        raise ValueError(
            f"'{ref}' is too short to name a {what}: give its full id or at least {MIN_PREFIX} characters of it"
        )
    found = [i["id"] for i in api.pages(listing, page_size=200) if i["id"].replace("-", "").startswith(prefix)]
    if not found:
        raise ApiError(404, "not_found", f"no {what} {where} has an id starting with '{ref}'")
    if len(found) > 1:
        raise ValueError(
            f"'{ref}' starts the ids of {len(found)} {what}s {where} ({', '.join(found)}): give more of it"
        )
    return found[0]


def _found(api: Api, path: str, ref: str, what: str, where: str) -> dict[str, Any]:
    try:
        return api.get(path)
    except ApiError as exc:
        if exc.status == 404:
            raise ApiError(404, "not_found", f"no {what} {ref} {where} that you can see") from None
        raise


def _webhook(api: Api, org: str, ref: str) -> dict[str, Any]:
    where = f"in '{org}'"
    webhook_id = _resolve(api, _base(org), ref, "webhook", where)
    return _found(api, f"{_base(org)}{webhook_id}/", ref, "webhook", where)


def _delivery_of(api: Api, org: str, webhook_ref: str, ref: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The webhook and its delivery (with its attempt log) that the two refs name."""
    webhook = _webhook(api, org, webhook_ref)
    listing, where = f"{_base(org)}{webhook['id']}/deliveries/", f"of webhook {webhook['id'][:SHORT_ID]}"
    delivery_id = _resolve(api, listing, ref, "delivery", where)
    return webhook, _found(api, f"{listing}{delivery_id}/", ref, "delivery", where)


def _state(webhook: dict[str, Any]) -> str:
    """`active`, else the registry's reason for switching it off and since when."""
    if webhook["is_active"]:
        return "active"
    since = f" since {when(webhook['disabled_at'])}" if webhook["disabled_at"] else ""
    return (webhook["disabled_reason"] or "switched off") + since


def _clip(text: str, chars: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= chars else line[: chars - 1] + "…"


def _summary(webhook: dict[str, Any]) -> list[str]:
    lines = [
        f"webhook {webhook['id']} of {webhook['organization']}",
        f"  url          {webhook['url']}",
        f"  events       {', '.join(webhook['event_types'])}",
        f"  versions     {'its own' if webhook['source'] == 'own' else 'every version it can see'}",
    ]
    if webhook["description"]:
        lines.append(f"  description  {webhook['description']}")
    return [
        *lines,
        f"  state        {_state(webhook)}",
        f"  failures     {webhook['consecutive_failures']} in a row",
        f"  created      {when(webhook['created_at'])} by {webhook['created_by'] or '-'}",
    ]


def _with_secret(args: argparse.Namespace, webhook: dict[str, Any], head: str) -> int:
    emit(args, webhook, "\n".join([head, *_summary(webhook)[1:], f"secret: {webhook['secret']}", KEEP_IT]))
    return 0


def _list(args: argparse.Namespace, api: Api) -> int:
    rows = list(api.pages(_base(args.org)))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        Console().print(
            f"'{args.org}' has no webhooks; `consortium webhooks add --org {args.org} URL --event TYPE` registers one",
            markup=False,
        )
        return 0
    table = Table("id", "url", "events", "state", "failures in a row", title=f"Webhooks of {escape(args.org)}")
    for w in rows:
        table.add_row(
            w["id"][:SHORT_ID],
            escape(w["url"]),
            ", ".join(w["event_types"]),
            escape(_state(w)),
            str(w["consecutive_failures"]),
        )
    Console().print(table)
    return 0


def _add(args: argparse.Namespace, api: Api) -> int:
    body = {"url": args.endpoint, "event_types": args.events, "description": args.description, "source": args.source}
    webhook = api.post(_base(args.org), body)
    return _with_secret(args, webhook, f"registered webhook {webhook['id']} of {webhook['organization']}")


def _rotate(args: argparse.Namespace, api: Api) -> int:
    webhook = _webhook(api, args.org, args.id)
    rotated = api.post(f"{_base(args.org)}{webhook['id']}/rotate-secret/")
    return _with_secret(
        args, rotated, f"new signing secret for webhook {rotated['id']}: the old one no longer signs deliveries"
    )


def _deliveries_table(rows: list[dict[str, Any]]) -> Table:
    table = Table("id", "event", "version", "status", "attempts", "last code", "latency ms", "error", "created")
    for d in rows:
        version = d["event"]["version"]
        table.add_row(
            d["id"][:SHORT_ID],
            d["event"]["type"],
            escape(f"{version['artifact']}@{version['number']}"),
            d["status"] + (" (replay)" if d["replay_of"] else ""),
            str(d["attempts"]),
            str(d["last_status_code"] or "-"),
            "-" if d["last_latency_ms"] is None else str(d["last_latency_ms"]),
            escape(_clip(d["last_error"], ERROR_CHARS)) or "-",
            when(d["created_at"]),
        )
    return table


def _recent(api: Api, org: str, webhook_id: str, limit: int) -> list[dict[str, Any]]:
    if limit < 1:
        raise ValueError(f"--limit must be at least 1, not {limit}")
    pages = api.pages(f"{_base(org)}{webhook_id}/deliveries/", page_size=min(limit, 200))
    return list(islice(pages, limit))


def _show(args: argparse.Namespace, api: Api) -> int:
    webhook = _webhook(api, args.org, args.id)
    rows = _recent(api, args.org, webhook["id"], args.limit)
    if args.json:
        print(json.dumps({**webhook, "deliveries": rows}, indent=2))
        return 0
    console = Console()
    console.print("\n".join(_summary(webhook)), markup=False)
    if rows:
        console.print(_deliveries_table(rows))
    else:
        console.print("no deliveries yet", markup=False)
    return 0


def _deliveries(args: argparse.Namespace, api: Api) -> int:
    webhook = _webhook(api, args.org, args.id)
    rows = _recent(api, args.org, webhook["id"], args.limit)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        Console().print(f"no deliveries yet to {webhook['url']}", markup=False)
        return 0
    table = _deliveries_table(rows)
    table.title = f"Deliveries to {escape(webhook['url'])}, newest first"
    Console().print(table)
    return 0


def _delivery(args: argparse.Namespace, api: Api) -> int:
    webhook, d = _delivery_of(api, args.org, args.webhook_id, args.delivery_id)
    if args.json:
        print(json.dumps(d, indent=2))
        return 0
    event, version = d["event"], d["event"]["version"]
    lines = [
        f"delivery {d['id']} to {webhook['url']}",
        f"  event     {event['type']} {event['id']} on {version['artifact']}@{version['number']}",
        f"  status    {d['status']} after {d['attempts']} attempt(s)",
        f"  created   {when(d['created_at'])}; finished {when(d['finished_at'])}",
    ]
    if d["status"] == "pending" and d["next_attempt_at"]:
        lines.append(f"  next try  {when(d['next_attempt_at'])}")
    if d["replay_of"]:
        lines.append(f"  replay of {d['replay_of']}, asked by {d['requested_by'] or '-'}")
    if d["last_error"]:
        lines.append(f"  error     {d['last_error']}")
    console = Console()
    console.print("\n".join(lines), markup=False)
    if not d["attempt_log"]:
        console.print("no attempts yet", markup=False)
        return 0
    table = Table("#", "started", "status code", "latency ms", "error", "response (first bytes)")
    for a in d["attempt_log"]:
        table.add_row(
            str(a["number"]),
            when(a["started_at"]),
            str(a["status_code"] or "-"),
            "-" if a["latency_ms"] is None else str(a["latency_ms"]),
            escape(_clip(a["error"], ERROR_CHARS)) or "-",
            escape(_clip(a["response_prefix"], PREFIX_CHARS)) or "-",
        )
    console.print(table)
    return 0


def _replay(args: argparse.Namespace, api: Api) -> int:
    webhook, d = _delivery_of(api, args.org, args.webhook_id, args.delivery_id)
    replay = api.post(f"{_base(args.org)}{webhook['id']}/deliveries/{d['id']}/replay/")
    emit(args, replay, f"replaying delivery {d['id']} as {replay['id']} ({replay['status']})")
    return 0


def _switch(args: argparse.Namespace, api: Api) -> int:
    webhook = _webhook(api, args.org, args.id)
    on = args.webhooks_command == "enable"
    changed = api.request("PATCH", f"{_base(args.org)}{webhook['id']}/", json={"is_active": on})
    emit(args, changed, f"webhook {changed['id']} ({changed['url']}): {_state(changed)}")
    return 0


def _remove(args: argparse.Namespace, api: Api) -> int:
    webhook = _webhook(api, args.org, args.id)
    api.request("DELETE", f"{_base(args.org)}{webhook['id']}/")
    emit(
        args,
        {"id": webhook["id"], "removed": True},
        f"removed webhook {webhook['id']} ({webhook['url']}) and its delivery log",
    )
    return 0
