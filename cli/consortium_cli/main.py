"""`consortium`: push versions to the consortium registry and inspect or pull them.

    consortium login                      check a token and keep it in ~/.config/consortium (mode 0600)
    consortium push DIR                   hash, upload what the registry lacks, finalize (resumable)
    consortium status VERSION             a version's state and its checks (progress, reasons)
    consortium wait VERSION               block until a verdict: exit 0 approved/published, 1 refused, 2 error
                                          (--for checks: 0 checks passed, 1 changes requested, 2 errored)
    consortium ls [ORG[/NAME]]            artifacts, or the versions of one
    consortium show REF                   one version (REF: org/name@1.0, org/name@latest or an id)
    consortium pull REF DIR               download a version's files and check every sha256

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
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from consortium_cli import config, refs
from consortium_cli.client import Api, ApiError
from consortium_cli.push import load_spec, push, workers_default

APPROVED = {"approved", "publishing", "published"}
URL_REFRESH_SECONDS = 120  # well inside the registry's download URL lifetime
REFUSED = {"changes_requested", "rejected", "withdrawn", "deleted"}

err = Console(stderr=True)


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


def _emit(args: argparse.Namespace, data: Any, human: str) -> None:
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        Console().print(human)


def cmd_login(args: argparse.Namespace, settings: config.Settings) -> int:
    token = args.token or settings.token or getpass.getpass("Registry token (ocr_…): ")
    with Api(settings.url, token) as api:
        me = api.get("/me/")
    path = config.save(url=settings.url, token=token)
    orgs = ", ".join(f"{o['slug']} ({o['role']})" for o in me["organizations"]) or "no org"
    _emit(args, me, f"Signed in to {settings.url} as {me['username']}: {orgs}. Saved to {path}.")
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
    _emit(
        args,
        {**version, "url": url},
        f"{spec.organization}/{spec.artifact} {version['number']}: {version['state']}\n{url}",
    )
    return 0


def _checks(api: Api, version: dict[str, Any]) -> dict[str, Any] | None:
    """The version's check pipeline, or None before it is finalized."""
    try:
        return api.get(f"/versions/{version['id']}/checks/")
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise


def _step_line(step: dict[str, Any]) -> str:
    progress = step["progress"]
    line = f"  {step['name']:<10} {step['status']:<8}"
    if step["status"] == "running" and progress["total"]:
        line += f" {100 * progress['done'] / progress['total']:5.1f}% of {progress['total']} {progress['unit']}"
    elif step["duration"] is not None:
        line += f" {step['duration']:.1f} s"
    if step["summary"]:
        line += f"  {step['summary']}"
    if step["status"] in ("queued", "errored") and step["last_error"]:
        line += f"  (last error: {step['last_error'].splitlines()[-1][:200]})"
    return line


def _checks_text(checks: dict[str, Any] | None) -> str:
    if checks is None:
        return "checks: not started (the version is not finalized)"
    lines = [f"checks: {checks['status']}", *(_step_line(step) for step in checks["steps"])]
    if checks["reasons"]:
        lines.append("reasons:")
        lines += [f"  {r['step']}: {r['path'] + ': ' if r['path'] else ''}{r['message']}" for r in checks["reasons"]]
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace, api: Api) -> int:
    version = refs.version_of(api, args.version)
    checks = _checks(api, version)
    a = version["artifact"]
    _emit(
        args,
        {**version, "checks": checks},
        f"{a['organization']}/{a['slug']} {version['number']}: {version['state']}\n{_checks_text(checks)}",
    )
    return 0


def _verdict(version: dict[str, Any], checks: dict[str, Any] | None, until: str) -> int | None:
    """0 accepted, 1 refused, 2 stuck on an errored check; None while undecided. `--for checks`
    reads the checks' own outcome, whatever review did afterwards."""
    if version["state"] == "deleted":
        return 1
    if until == "checks":
        return {"passed": 0, "failed": 1, "errored": 2}.get(checks["status"]) if checks else None
    if version["state"] in REFUSED:
        return 1
    if version["state"] in APPROVED:
        return 0
    return 2 if checks is not None and checks["status"] == "errored" else None


def cmd_wait(args: argparse.Namespace, api: Api) -> int:
    deadline = time.monotonic() + args.timeout
    reported: dict[str, str] = {}
    while True:
        version = refs.version_of(api, args.version)
        checks = _checks(api, version)
        for step in checks["steps"] if checks and not (args.quiet or args.json) else []:
            if reported.get(step["name"]) != step["status"] and step["status"] != "queued":
                err.print(_step_line(step))
                reported[step["name"]] = step["status"]
        verdict = _verdict(version, checks, args.until)
        if verdict is not None or time.monotonic() > deadline:
            break
        time.sleep(args.interval)
    _emit(args, {**version, "checks": checks}, f"{version['number']}: {version['state']}\n{_checks_text(checks)}")
    if verdict is None:
        err.print(f"no verdict after {args.timeout:.0f} s (still {version['state']})")
        return 2
    if verdict == 2:
        err.print("a check errored after all its attempts; a steward can re-run it")
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
    files = api.get(f"/versions/{version['id']}/files/")
    lineage = api.get(f"/versions/{version['id']}/lineage/")
    data = {**version, "files": files, "lineage": lineage}
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    console = Console()
    a = version["artifact"]
    console.print(f"[bold]{a['organization']}/{a['slug']}[/] {version['number']} ({a['kind']}): {version['state']}")
    console.print(f"license {version['license']}; manifest {version['manifest_sha256'] or '(not finalized)'}")
    table = Table("path", "size", "sha256", "status")
    for f in files:
        table.add_row(f["path"], str(f["size"]), f["sha256"][:16], f["status"])
    console.print(table)
    for edge in lineage["parents"]:
        target = (
            edge["version"]["artifact"] + "@" + edge["version"]["number"]
            if edge["version"]
            else (f"hub:{edge['hub']['repo']}@{edge['hub']['revision'][:12]} ({edge['hub']['license']})")
        )
        console.print(f"{edge['relation']} {target}")
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
    _emit(
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
        choices=("approval", "checks"),
        default="approval",
        help="what to wait for: the review's verdict (default) or the checks' (in_review counts as passed)",
    )
    ls = sub.add_parser("ls", help="list artifacts, or versions of org/name")
    ls.add_argument("ref", nargs="?")
    show = sub.add_parser("show", help="one version with files and lineage")
    show.add_argument("ref")
    pull = sub.add_parser("pull", help="download a version and verify it")
    pull.add_argument("ref")
    pull.add_argument("dir")
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
        }[args.command]
        with Api(settings.url, settings.token) as api:
            return handler(args, api)
    except ApiError as exc:
        err.print(f"[red]error:[/] {exc.message} (HTTP {exc.status})")
        return 2
    except (ValueError, OSError, httpx.HTTPError) as exc:
        err.print(f"[red]error:[/] {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
