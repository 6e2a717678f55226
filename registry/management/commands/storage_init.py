"""Create the object storage bucket if missing, waiting for the storage to come up."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from consortium.embedded import wait_until
from registry.storage import bucket_ensure


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--timeout", type=float, default=60, help="seconds to wait for the storage")

    def handle(self, *args: Any, timeout: float, **options: Any) -> None:
        created: list[bool] = []

        def ensure() -> bool:
            created.append(bucket_ensure())
            return True

        wait_until(ensure, what=f"S3 at {settings.S3_ENDPOINT_URL}", timeout=timeout)
        state = "created" if created[-1] else "exists"
        self.stdout.write(f"bucket {settings.S3_BUCKET} {state} at {settings.S3_ENDPOINT_URL}")
