"""The accessibility audit itself: axe-core finds what it must, so a clean run means something."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser

from tests.browser.accessibility import violations

pytestmark = pytest.mark.browser


def test_axe_reports_a_serious_violation(browser: Browser) -> None:
    context = browser.new_context()  # not the audited `page` fixture: this page is broken on purpose
    page = context.new_page()
    page.set_content('<html lang="en"><body><main><h1>Form</h1><input type="text"></main></body></html>')
    found = violations(page)
    assert any("label (critical)" in line for line in found), found
    page.set_content('<html lang="en"><head><title>ok</title></head><body><main><h1>ok</h1></main></body></html>')
    assert violations(page) == []
    context.close()
