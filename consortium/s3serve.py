"""SeaweedFS for docker-compose: `python -m consortium.s3serve` writes the S3 identity from the
environment (S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY or its _FILE) and execs `weed server`."""

from __future__ import annotations

import os
from pathlib import Path

from consortium.embedded import S3Ports, seaweed_command
from consortium.env import env_int, env_secret, env_str


def main() -> None:
    secret = env_secret("S3_SECRET_ACCESS_KEY")
    if not secret:
        raise SystemExit("S3_SECRET_ACCESS_KEY (or S3_SECRET_ACCESS_KEY_FILE) is required")
    command = seaweed_command(
        data_dir=Path(env_str("SEAWEEDFS_DATA_DIR", "/data")),
        ports=S3Ports(env_int("SEAWEEDFS_S3_PORT", 8333)),
        access_key=env_str("S3_ACCESS_KEY_ID"),
        secret_key=secret,
        bind="0.0.0.0",  # noqa: S104 - listens inside the compose network, reached as `s3`
    )
    os.execv(command[0], command)  # noqa: S606 - replace this process so signals reach weed directly


if __name__ == "__main__":
    main()
