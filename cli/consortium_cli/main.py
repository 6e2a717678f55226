"""`consortium`: push versions to the consortium registry and inspect or pull them.

    consortium login                      check a token and keep it in ~/.config/consortium (mode 0600)
    consortium push DIR                   hash, upload what the registry lacks, finalize (resumable)
    consortium status VERSION             a version's state and its checks (progress, reasons)
    consortium wait VERSION               block until a verdict: exit 0 approved/published, 1 refused, 2 error
                                          (--for checks: 0 checks passed, 1 changes requested, 2 errored;
                                           --for published: 0 on the Hub, 1 refused or publication failed)
    consortium ls [ORG[/NAME]]            artifacts, or the versions of one
    consortium show REF                   one version (REF: org/name@1.0, org/name@latest or an id) with
                                          its files, lineage, eval scores and measurements
    consortium pull REF DIR               download a version's files and check every sha256
    consortium review list|show|approve|request-changes|reject
                                          the reviewer's queue, one version's evidence, decisions (-m COMMENT)
    consortium withdraw REF --reason TEXT withdraw a version (org owners, stewards)
    consortium publish REF                retry a failed publication to the Hub
    consortium prior-art RECIPE.yaml      the visible recipes closest to yours: exit 3 on a near-duplicate
    consortium acknowledge REF --org ORG  your org will not re-run another member's run (REF: org/name@1.0)
    consortium ledger [--csv]             compute spent and avoided per org and month (--org, --since, --until)
    consortium webhooks list|add|show|deliveries|delivery|replay|enable|disable|rotate-secret|remove
                                          your org's signed webhooks, their delivery logs (--org ORG; owners)

The registry is `--url`, else CONSORTIUM_URL, else the config file; the token CONSORTIUM_TOKEN,
else the config file. `--json` prints machine-readable results on stdout for CI.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from consortium_cli import config, ledger, prior_art, refs, release, review, webhooks
from consortium_cli.client import Api, ApiError
from consortium_cli.display import (
    checks_of,
    emit,
    err,
    lineage_lines,
    publication_text,
    step_line,
    version_text,
)
from consortium_cli.measurements import print_measurements
from consortium_cli.push import load_spec, push, workers_default
from consortium_cli.scorecard import print_scorecard

APPROVED = {"approved", "publishing", "published"}
URL_REFRESH_SECONDS = 120  # well inside the registry's download URL lifetime
REFUSED = {"changes_requested", "rejected", "withdrawn", "deleted"}


def _progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=err,
        disable=quiet,
        transient=False,
    )


def cmd_login(args: argparse.Namespace, settings: config.Settings) -> int:
    token = args.token or settings.token or getpass.getpass("Registry token (ocr_…): ")
    with Api(settings.url, token) as api:
        me = api.get("/me/")
    path = config.save(url=settings.url, token=token)
    orgs = ", ".join(f"{o['slug']} ({o['role']})" for o in me["organizations"]) or "no org"
    emit(args, me, f"Signed in to {settings.url} as {me['username']}: {orgs}. Saved to {path}.")
    return 0


def cmd_push(args: argparse.Namespace, api: Api) -> int:
    directory = Path(args.dir)
    spec = load_spec(
        directory,
        {
            "organization": args.org,
            "artifact": args.artifact,
            "version": args.version,
            "license": args.license,
            "kind": args.kind,
        },
    )
    with _progress(args.quiet or args.json) as progress:
        version = push(api, directory, spec, progress=progress, workers=args.workers)
    url = f"{api.url}/api/v1/versions/{version['id']}/"
    emit(
        args,
        {**version, "url": url},
        f"{spec.organization}/{spec.artifact} {version['number']}: {version['state']}\n{url}",
    )
    return 0


def cmd_status(args: argparse.Namespace, api: Api) -> int:
    version = refs.version_of(api, args.version)
    checks = checks_of(api, version)
    emit(args, {**version, "checks": checks}, version_text(version, checks, with_checks=True))
    return 0


def _publication_failed(version: dict[str, Any]) -> bool:
    publication = version.get("publication")
    return publication is not None and publication["status"] == "failed"


def _verdict(version: dict[str, Any], checks: dict[str, Any] | None, until: str) -> int | None:
    """0 accepted, 1 refused, 2 stuck on an errored check; None while undecided. `--for checks`
    reads the checks' own outcome, whatever review did afterwards. `--for published` waits past
    approval for the Hub: a failed publication is a refusal, a version never bound for the Hub
    an error."""
    if version["state"] == "deleted":
        return 1
    if until == "checks":
        return {"passed": 0, "failed": 1, "errored": 2}.get(checks["status"]) if checks else None
    if version["state"] in REFUSED:
        return 1
    if until == "published":
        if version["state"] == "published":
            return 0
        if _publication_failed(version):
            return 1
        if version["release_target"] != "hub":
            return 2
    elif version["state"] in APPROVED:
        return 0
    return 2 if checks is not None and checks["status"] == "errored" else None


def _why(version: dict[str, Any], until: str, verdict: int) -> str | None:
    """What a pipeline's log should say about a non-zero verdict, beyond the state."""
    if until == "published" and verdict == 1 and _publication_failed(version):
        publication = version["publication"]
        error = "\n".join(publication["last_error"].strip().splitlines()[-20:])  # a traceback's end says the most
        return (
            f"publication failed after {publication['attempts']} attempt(s): {error}\n"
            f"`consortium publish {version['id']}` tries it again"
        )
    if until == "published" and verdict == 2 and version["release_target"] != "hub":
        return f"release target {version['release_target']}: approval is its end state, it never goes to the Hub"
    if verdict == 2:
        return "a check errored after all its attempts; a steward can re-run it"
    return None


def cmd_wait(args: argparse.Namespace, api: Api) -> int:
    deadline = time.monotonic() + args.timeout
    reported: dict[str, str] = {}
    version = refs.version_of(api, args.version)
    while True:
        # The checks first, then the version: a run settles and moves its version in one transaction,
        # so the version read second is never older than the checks (read the other way round, a run
        # that settled between the two reads showed "passed" beside a version still `checking`).
        checks = checks_of(api, version)
        version = api.get(f"/versions/{version['id']}/")
        if not (args.quiet or args.json):
            for step in checks["steps"] if checks else []:
                if reported.get(step["name"]) != step["status"] and step["status"] != "queued":
                    err.print(step_line(step), markup=False)
                    reported[step["name"]] = step["status"]
            publication = version.get("publication")
            if publication and reported.get("publication") != publication["status"]:
                err.print(f"  publication {publication['status']}", markup=False)
                reported["publication"] = publication["status"]
        verdict = _verdict(version, checks, args.until)
        if verdict is not None or time.monotonic() > deadline:
            break
        time.sleep(args.interval)
    emit(args, {**version, "checks": checks}, version_text(version, checks, with_checks=True))
    if verdict is None:
        err.print(f"no verdict after {args.timeout:.0f} s (still {version['state']})")
        return 2
    if why := _why(version, args.until, verdict):
        err.print(why, markup=False)
    return verdict


def cmd_ls(args: argparse.Namespace, api: Api) -> int:
    if args.ref and "/" in args.ref:
        org, slug, _ = refs.parse(args.ref)
        artifact = refs.artifact_of(api, org, slug)
        if artifact is None:
            raise ApiError(404, "not_found", f"no artifact {org}/{slug} that you can see")
        rows = list(api.pages("/versions/", artifact=artifact["id"]))
        table = Table("number", "state", "license", "changed")
        for v in rows:
            table.add_row(v["number"], v["state"], v["license"], v["state_changed_at"][:16])
    else:
        rows = list(api.pages("/artifacts/", org=args.ref))
        table = Table("artifact", "kind", "sharing")
        for a in rows:
            table.add_row(f"{a['organization']}/{a['slug']}", a["kind"], a["sharing"])
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        Console().print(table)
    return 0


def cmd_show(args: argparse.Namespace, api: Api) -> int:
    version = refs.version_of(api, args.ref)
    if "measurements" not in version:  # found in a list: the detail adds evals and measurements
        version = api.get(f"/versions/{version['id']}/")
    files = api.get(f"/versions/{version['id']}/files/")
    lineage = api.get(f"/versions/{version['id']}/lineage/")
    data = {**version, "files": files, "lineage": lineage}
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    console = Console()
    a = version["artifact"]
    head = f"{escape(a['organization'])}/{escape(a['slug'])}"
    console.print(f"[bold]{head}[/] {escape(version['number'])} ({a['kind']}): {version['state']}")
    manifest = version["manifest_sha256"] or "(not finalized)"
    console.print(f"license {version['license']}; manifest {manifest}", markup=False)
    if publication := publication_text(version):
        console.print(publication, markup=False)
    table = Table("path", "size", "sha256", "status")
    for f in files:
        table.add_row(escape(f["path"]), str(f["size"]), f["sha256"][:16], f["status"])
    console.print(table)
    for line in lineage_lines(lineage):
        console.print(line, markup=False)
    prior_art.print_prior_art(console, version)
    print_measurements(console, version)
    print_scorecard(console, version)
    return 0


def cmd_pull(args: argparse.Namespace, api: Api) -> int:
    version = refs.version_of(api, args.ref)
    listing = api.get(f"/versions/{version['id']}/files/")
    target = Path(args.dir)
    with _progress(args.quiet or args.json) as progress:
        task = progress.add_task("downloading", total=sum(f["size"] for f in listing))
        current, fetched = {f["path"]: f for f in listing}, time.monotonic()
        for planned in listing:
            # Download URLs live minutes: on a long pull, take fresh ones once the listing has aged.
            if time.monotonic() - fetched > URL_REFRESH_SECONDS:
                current = {f["path"]: f for f in api.get(f"/versions/{version['id']}/files/")}
                fetched = time.monotonic()
            entry = current[planned["path"]]
            if entry["status"] != "verified":
                raise ApiError(409, "incomplete", f"{entry['path']} has not been uploaded")
            destination = target / entry["path"]
            destination.parent.mkdir(parents=True, exist_ok=True)
            hasher = hashlib.sha256()
            with httpx.stream("GET", entry["download_url"], timeout=600) as response:
                response.raise_for_status()  # before the destination exists: no empty file left behind
                with destination.open("wb") as out:
                    for chunk in response.iter_bytes(8 * 1024 * 1024):
                        hasher.update(chunk)
                        out.write(chunk)
                        progress.advance(task, len(chunk))
            if hasher.hexdigest() != entry["sha256"]:
                destination.unlink()
                raise ApiError(502, "digest_mismatch", f"{entry['path']}: downloaded bytes do not match its sha256")
    emit(
        args,
        {"version": version["id"], "files": len(listing)},
        f"{len(listing)} files, all sha256 checked, in {target}",
    )
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="consortium", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--url", help="registry base URL (CONSORTIUM_URL)")
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = p.add_subparsers(dest="command", required=True)
    login = sub.add_parser("login", help="check a token and save it")
    login.add_argument("--token")
    push_ = sub.add_parser("push", help="push a directory as a version")
    push_.add_argument("dir")
    for flag in ("org", "artifact", "version", "license", "kind"):
        push_.add_argument(f"--{flag}")
    push_.add_argument("--workers", type=int, default=workers_default(), help="parallel part uploads")
    for name in ("status", "wait"):
        cmd = sub.add_parser(name)
        cmd.add_argument("version", help="org/name@version, org/name@latest or a version id")
    wait = sub.choices["wait"]
    wait.add_argument("--timeout", type=float, default=3600)
    wait.add_argument("--interval", type=float, default=5)
    wait.add_argument(
        "--for",
        dest="until",
        choices=("approval", "checks", "published"),
        default="approval",
        help="what to wait for: the review's verdict (default), the checks' (in_review counts as passed) "
        "or the Hub (0 published, 1 refused or publication failed, 2 not bound for the Hub)",
    )
    ls = sub.add_parser("ls", help="list artifacts, or versions of org/name")
    ls.add_argument("ref", nargs="?")
    show = sub.add_parser("show", help="one version with files, lineage, eval scores, measurements and scorecard")
    show.add_argument("ref")
    pull = sub.add_parser("pull", help="download a version and verify it")
    pull.add_argument("ref")
    pull.add_argument("dir")
    review.register(sub)
    release.register(sub)
    prior_art.register(sub)
    ledger.register(sub)
    webhooks.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = config.load(args.url)
    try:
        if args.command == "login":
            return cmd_login(args, settings)
        handler = {
            "push": cmd_push,
            "status": cmd_status,
            "wait": cmd_wait,
            "ls": cmd_ls,
            "show": cmd_show,
            "pull": cmd_pull,
            "review": review.cmd_review,
            "withdraw": release.cmd_withdraw,
            "publish": release.cmd_publish,
            "prior-art": prior_art.cmd_prior_art,
            "ledger": ledger.cmd_ledger,
            "acknowledge": ledger.cmd_acknowledge,
            "webhooks": webhooks.cmd_webhooks,
        }[args.command]
        with Api(settings.url, settings.token) as api:
            return handler(args, api)
    except ApiError as exc:
        err.print(f"[red]error:[/] {escape(exc.message)} (HTTP {exc.status})")
        return 2
    except (ValueError, OSError, httpx.HTTPError) as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
