"""Create the object storage bucket if missing, waiting for the storage to come up, and apply the
CORS rule that lets the portal's pages upload straight to it (S3_CORS_ORIGINS)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from consortium.embedded import wait_until
from registry.storage import bucket_ensure, error_code


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--timeout", type=float, default=60, help="seconds to wait for the storage")

    def handle(self, *args: Any, timeout: float, **options: Any) -> None:
        created: list[bool] = []
        refused: list[str] = []

        def ensure() -> bool:
            try:
                created.append(bucket_ensure())
            except ClientError as exc:  # the storage answered, but refused: waiting will not help
                if error_code(exc) not in {"AccessDenied", "NotImplemented"}:
                    raise
                refused.append(error_code(exc))
            return True

        wait_until(ensure, what=f"S3 at {settings.S3_ENDPOINT_URL}", timeout=timeout)
        if refused:
            raise CommandError(
                f"the storage refused to create the bucket or set its CORS rule ({refused[-1]}): give these "
                "credentials s3:CreateBucket and s3:PutBucketCORS, or set S3_CORS_ORIGINS= (empty) and apply "
                "the rule yourself (docs/storage-cors.md)"
            )
        state = "created" if created[-1] else "exists"
        self.stdout.write(f"bucket {settings.S3_BUCKET} {state} at {settings.S3_ENDPOINT_URL}")
        origins = settings.S3_CORS_ORIGINS
        cors = f"browser uploads allowed from {', '.join(origins)}" if origins else "CORS left to the operator"
        self.stdout.write(f"bucket CORS: {cors}")
