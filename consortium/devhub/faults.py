"""What tests use to break the local Hub and to watch it: injected faults and the request log."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple


@dataclass
class Fault:
    """One planned failure. Before handling (`after_apply=False`) the request is answered with
    `status` (or the connection dropped) and never applied. After applying, the request has taken
    full effect (a commit landed) and the client still gets `status`, or no answer at all with
    `drop=True`: how a timeout after the commit applied looks from the client."""

    method: str
    pattern: re.Pattern[str]
    status: int | None
    after_apply: bool
    drop: bool
    times: int
    error_code: str | None
    message: str | None
    delay: float

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and self.pattern.search(path) is not None


class Faults:
    """`hub.faults.add("POST", r"/commit/", after_apply=True, drop=True)`. Paths are matched with
    `re.search` against the request path as sent (percent-encoded, without the query string)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._planned: list[Fault] = []

    def add(
        self,
        method: str,
        path_regex: str,
        *,
        status: int | None = None,
        after_apply: bool = False,
        drop: bool = False,
        times: int = 1,
        error_code: str | None = None,
        message: str | None = None,
        delay: float = 0,
    ) -> Fault:
        if status is None and not drop and not delay:
            raise ValueError("a fault needs a status, drop=True or a delay")
        if status is not None and drop:
            raise ValueError("a dropped connection has no status")
        if times < 1:
            raise ValueError("times must be at least 1")
        fault = Fault(
            method.upper(), re.compile(path_regex), status, after_apply, drop, times, error_code, message, delay
        )
        with self._lock:
            self._planned.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        """The first planned fault for this request, counted down (and forgotten at zero)."""
        with self._lock:
            for fault in self._planned:
                if fault.matches(method, path):
                    fault.times -= 1
                    if fault.times == 0:
                        self._planned.remove(fault)
                    return fault
        return None

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._planned)

    def clear(self) -> None:
        with self._lock:
            self._planned.clear()


class LoggedRequest(NamedTuple):
    method: str
    path: str  # as sent, without the query string (upload links carry a token there)
    status: int | None  # None: the connection was dropped without an answer


class RequestLog:
    """Every request the server answered (or dropped), in order; safe to read from tests while the
    server runs. Entries are recorded before the answer is sent, so a client that has its answer
    finds its request here."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[LoggedRequest] = []

    def record(self, method: str, path: str, status: int | None) -> None:
        with self._lock:
            self._items.append(LoggedRequest(method, path, status))

    def matching(self, method: str | None = None, path_regex: str | None = None) -> list[LoggedRequest]:
        with self._lock:
            items = list(self._items)
        return [
            r
            for r in items
            if (method is None or r.method == method.upper()) and (path_regex is None or re.search(path_regex, r.path))
        ]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __iter__(self) -> Iterator[LoggedRequest]:
        return iter(self.matching())
