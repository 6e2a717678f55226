"""A thin HTTP client of /api/v1/: bearer token, the registry's JSON error shape, cursor pages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx


class ApiError(Exception):
    """An error answer of the registry, with its status, code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{message} (HTTP {status}, {code})")
        self.status, self.code, self.message = status, code, message


class Api:
    def __init__(self, url: str, token: str | None, *, timeout: float = 60) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url
        self.http = httpx.Client(base_url=f"{url}/api/v1", headers=headers, timeout=timeout)

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._checked(self.http.request(method, path, **kwargs))
        return None if response.status_code == 204 else response.json()

    def text(self, path: str, **params: Any) -> str:
        """A GET whose answer is not JSON (a CSV export), with the same error handling."""
        return self._checked(self.http.get(path, params={k: v for k, v in params.items() if v is not None})).text

    @staticmethod
    def _checked(response: httpx.Response) -> httpx.Response:
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                raise ApiError(response.status_code, error["code"], error["message"])
            except (ValueError, KeyError):
                raise ApiError(response.status_code, "http_error", response.text[:300]) from None
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: Any = None, *, key: str | None = None, timeout: float | None = None) -> Any:
        headers = {"Idempotency-Key": key} if key else {}
        extra = {"timeout": timeout} if timeout is not None else {}
        return self.request("POST", path, json=body if body is not None else {}, headers=headers, **extra)

    def pages(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of a list, following the cursor's `next` links."""
        page = self.get(path, **params)
        while True:
            yield from page["results"]
            if not page["next"]:
                return
            page = self.request("GET", page["next"])
