"""A webhook receiver to try the registry's webhooks with: it checks each delivery's signature with
`verify` (the function docs/webhooks.md documents) and prints the events it accepts.

    python examples/webhooks/receiver.py --port 9000 --secret whsec_...   (or WEBHOOK_SECRET=...)

Register http://127.0.0.1:9000/ as a webhook of your org; `make run` allows loopback receivers.
Answers 204 to a verified delivery and 401 to anything else (the registry then retries).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """True when `header` (the Consortium-Signature value) signs `body` with `secret`, recently."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False  # too old (or from the future): a replayed capture
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), fields.get("v1", "").encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--secret", default=os.environ.get("WEBHOOK_SECRET"), help="the webhook's signing secret")
    args = parser.parse_args()
    if not args.secret:
        parser.error("give the webhook's signing secret with --secret or WEBHOOK_SECRET")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))  # the raw bytes, as signed
            if not verify(args.secret, self.headers.get("Consortium-Signature", ""), body):
                print("refused: the signature does not verify", flush=True)
                self.send_response(401)
                self.end_headers()
                return
            event = json.loads(body)
            version = event["version"]
            print(f"verified {event['type']}: {version['artifact']}@{version['number']} {event['payload']}", flush=True)
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    print(f"listening on http://{args.host}:{args.port}/", flush=True)
    ThreadingHTTPServer((args.host, args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
