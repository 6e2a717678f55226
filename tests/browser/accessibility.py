"""axe-core (from the npm registry, pinned in tests/browser/axe/package-lock.json) run on every page
a browser test loads: serious and critical violations fail the test."""

from __future__ import annotations

import json
import shutil
import subprocess
from functools import cache
from pathlib import Path

from playwright.sync_api import Error, Page

AXE_DIR = Path(__file__).with_name("axe")
AXE_SCRIPT = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
FAILING_IMPACTS = ("serious", "critical")
# WCAG 2.1 A and AA plus axe's best practices (landmarks, heading order, region).
RUN_OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}}


@cache
def axe_source() -> str:
    """axe.min.js, installed with `npm ci` from the lock file on first use."""
    if not AXE_SCRIPT.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError(
                "npm is missing: the browser tests need it once to install axe-core (apt-get install npm)"
            )
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=AXE_DIR, check=True, timeout=300)
    return AXE_SCRIPT.read_text()


def violations(page: Page) -> list[str]:
    """The serious and critical axe violations of the page as it is now, one line per element."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=axe_source())
    result = page.evaluate("options => window.axe.run(document, options)", RUN_OPTIONS)
    return [
        f"{page.url}: {v['id']} ({v['impact']}): {v['help']} at {json.dumps(node['target'])}"
        for v in result["violations"]
        if v["impact"] in FAILING_IMPACTS
        for node in v["nodes"]
    ]


class Auditor:
    """Runs axe on each document the page loads, and once more on the last state at the end."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.found: list[str] = []
        self.checked = 0
        self.running = self.again = False
        page.on("load", lambda _page: self.check())

    def check(self) -> None:
        if self.running:  # a page loaded while a check waited on the browser: check it next
            self.again = True
            return
        self.running = True
        try:
            self.found += violations(self.page)
            self.checked += 1
        except Error as error:
            # The test navigated on (the next page gets its own check) or ended before axe finished.
            if not any(sign in str(error) for sign in ("context was destroyed", "navigation", "has been closed")):
                raise
        finally:
            self.running = False
        if self.again:
            self.again = False
            self.check()
