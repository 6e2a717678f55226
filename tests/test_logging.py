"""Structured logs carry the request id, which the response echoes."""

import json
import logging

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_each_request_logs_one_json_line_with_its_request_id(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="consortium.request"):
        response = Client().get("/api/v1/versions/", HTTP_X_REQUEST_ID="trace-1234")
    assert response["X-Request-ID"] == "trace-1234"
    [record] = [r for r in caplog.records if r.name == "consortium.request"]
    event = json.loads(logging.getLogger().handlers[0].formatter.format(record))
    assert event["event"] == "request"
    assert event["request_id"] == "trace-1234"
    assert (event["method"], event["path"], event["status"]) == ("GET", "/api/v1/versions/", 200)


def test_a_request_id_that_is_not_a_plain_token_is_replaced() -> None:
    response = Client().get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert response["X-Request-ID"] != "bad id\nwith newline"
    assert len(response["X-Request-ID"]) == 32


def test_an_invitation_links_secret_never_reaches_the_request_log(caplog: pytest.LogCaptureFixture) -> None:
    secret = "inv_" + "s3cr3t" * 6
    with caplog.at_level(logging.INFO, logger="consortium.request"):
        Client().get(f"/invitations/{secret}/")
    [record] = [r for r in caplog.records if r.name == "consortium.request"]
    event = json.loads(logging.getLogger().handlers[0].formatter.format(record))
    assert event["path"] == "/invitations/…/"
    assert secret not in record.getMessage()
