"""Screenshots of the portal's main pages for the README (`make screenshots`): a fresh `make run`
stack with its demo catalogue, a webhook of aurora's to a receiver here, one more dataset version
pushed with the CLI and left waiting for review, then each page in Debian's Chromium, at a
desktop's width and one at a phone's."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

from bench.stack import ROOT, Stack, start_stack, wait_for_catalogue
from tests.webhooks.receiver import receiver_running

OUT = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"  # Debian's, as in the browser tests
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 375, "height": 812}


def push_waiting_version(stack: Stack, scratch: Path) -> None:
    """aurora's dataset 1.1.0 through the real CLI, left in review for the queue's picture."""
    source = scratch / "dataset"
    shutil.copytree(ROOT / "examples" / "demo" / "dataset", source)
    manifest = source / "consortium.yaml"
    manifest.write_text(manifest.read_text().replace("version: 1.0.0", "version: 1.1.0"))
    env = {**os.environ, "CONSORTIUM_URL": stack.url, "CONSORTIUM_TOKEN": stack.token}
    cli = Path(sys.executable).with_name("consortium")
    subprocess.run([str(cli), "push", str(source)], env=env, check=True, capture_output=True)
    subprocess.run(
        [str(cli), "wait", "aurora/pico-weather@1.1.0", "--for", "checks"], env=env, check=True, capture_output=True
    )


def sign_in(page: Page, url: str, username: str, password: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()


def shoot(page: Page, url: str, name: str) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=OUT / f"{name}.png", full_page=True)
    print(f"docs/screenshots/{name}.png  {url}")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as running:
        var = Path(scratch) / "var"
        stack = start_stack(var, seed_catalogue=True)
        try:
            wait_for_catalogue(stack)
            receiver = running.enter_context(receiver_running())  # make run allows loopback receivers
            hook = httpx.post(
                f"{stack.url}/api/v1/organizations/aurora/webhooks/",
                json={
                    "url": receiver.url,
                    "event_types": ["version.state_changed", "publication.published"],
                    "description": "start the fine-tune pipeline on new bases",
                },
                headers={"Authorization": f"Bearer {stack.token}"},
            ).json()
            push_waiting_version(stack, Path(scratch))
            logins = {e["username"]: e["password"] for e in json.loads((var / "demo-logins.json").read_text())}
            answer = httpx.get(
                f"{stack.url}/api/v1/versions/?page_size=200", headers={"Authorization": f"Bearer {stack.token}"}
            )
            found = {v["artifact"]["slug"]: v for v in answer.json()["results"]}
            checkpoint, plan = found["pico-llama"], found["dense-1b-code25"]
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
                )
                page = browser.new_page(viewport=DESKTOP)
                sign_in(page, stack.url, "aurora-owner", logins["aurora-owner"])
                shoot(page, f"{stack.url}/", "home")
                shoot(page, f"{stack.url}/browse/", "browse")
                shoot(page, f"{stack.url}/versions/{checkpoint['id']}/", "version")
                shoot(page, f"{stack.url}/artifacts/{checkpoint['artifact']['id']}/", "artifact")
                shoot(page, f"{stack.url}/versions/{plan['id']}/", "prior-art")
                shoot(page, f"{stack.url}/ledger/", "ledger")
                shoot(page, f"{stack.url}/submit/", "submit")
                shoot(page, f"{stack.url}/orgs/aurora/members/", "org-admin")
                shoot(page, f"{stack.url}/orgs/aurora/webhooks/{hook['id']}/", "webhook")
                sign_in(page, stack.url, "borealis-reviewer", logins["borealis-reviewer"])
                shoot(page, f"{stack.url}/review/", "review-queue")
                shoot(page, f"{stack.url}/inbox/", "inbox")
                page.set_viewport_size(PHONE)
                shoot(page, f"{stack.url}/versions/{checkpoint['id']}/", "version-phone")
                browser.close()
        finally:
            os.killpg(stack.process.pid, signal.SIGINT)
            stack.process.communicate(timeout=60)
            time.sleep(0.5)


if __name__ == "__main__":
    main()
