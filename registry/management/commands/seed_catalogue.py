"""Seed the demo catalogue through the running registry (web server, worker, S3 and Hub up): aurora
pushes a dataset, a pretraining recipe and a tiny checkpoint with their lineage, borealis a LoRA
adapter of that checkpoint, all with the `consortium` CLI's client; the worker checks them, a reviewer
of the other org approves each, and the worker publishes. Needs the orgs of `seed_demo`. Running it
again pushes nothing already pushed; `make run` runs it on a first start (CONSORTIUM_SEED_CATALOGUE=false
or --no-catalogue turns that off). Exits 1 when a version stops short of its end state or time runs out."""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from registry.demo.seeding import Seeder, SeedingError


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through `finally`, so the seeding tokens are revoked


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default=None, help="the registry's base URL (default: CONSORTIUM_PUBLIC_URL)")
        parser.add_argument(
            "--timeout", type=float, default=300, help="seconds to wait for checks and publication (default 300)"
        )

    def handle(self, *args: Any, url: str | None = None, timeout: float = 300, **options: Any) -> None:
        signal.signal(signal.SIGTERM, _terminate)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would drown the progress

        def say(line: str) -> None:
            self.stdout.write(line)
            self.stdout.flush()

        seeder = Seeder(url=url or settings.PUBLIC_URL, timeout=timeout, say=say)
        try:
            complete = seeder.run()
        except SeedingError as exc:
            raise CommandError(str(exc)) from exc
        except KeyboardInterrupt:
            say("interrupted; running it again resumes where it stopped")
            sys.exit(130)
        if not complete:
            sys.exit(1)
