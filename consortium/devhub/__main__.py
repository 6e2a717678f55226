"""`python -m consortium.devhub --root DIR --port N --token-file FILE`: the local Hub in the
foreground, one log line per request on stdout; SIGTERM or Ctrl-C stops it cleanly."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from consortium.devhub.server import DevHub


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m consortium.devhub", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="where repos and blobs are kept")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8350)
    parser.add_argument("--token-file", type=Path, required=True, help="file holding the one accepted token")
    parser.add_argument("--user", default="devhub", help="the namespace of repos created without one")
    parser.add_argument(
        "--show-private-pages", action="store_true", help="list private repos on the HTML pages without the token"
    )
    args = parser.parse_args(argv)
    token = args.token_file.read_text().strip()
    if not token:
        parser.error(f"{args.token_file} is empty")

    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    hub = DevHub(
        args.root,
        token=token,
        host=args.host,
        port=args.port,
        user=args.user,
        show_private_pages=args.show_private_pages,
        echo=True,
    ).start()
    print(f"devhub listening on {hub.url} root={args.root.resolve()}", flush=True)
    while not stopping.wait(0.5):
        pass
    hub.stop()
    print("devhub stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
