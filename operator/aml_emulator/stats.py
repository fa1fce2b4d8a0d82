"""Counters that tests read through `/_emulator/stats`: requests by method, route and status; writes per compute."""

from __future__ import annotations

from collections import Counter
from typing import Any


class Stats:
    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str, int]] = Counter()
        self.writes: Counter[tuple[str, str]] = Counter()  # (compute key, method) for PUT/PATCH/DELETE/POST
        self.api_versions: Counter[str] = Counter()  # as the front door accepted them: which version clients speak
        self.throttled = 0
        self.faults = 0

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]

    def record(self, method: str, route: str, status: int) -> None:
        self.requests[(method, route, status)] += 1

    def report(self, creates: dict[str, int]) -> dict[str, Any]:
        by_route: Counter[str] = Counter()
        for (method, route, _), count in self.requests.items():
            by_route[f"{method} {route}"] += count
        writes: dict[str, dict[str, int]] = {}
        for (key, method), count in sorted(self.writes.items()):
            writes.setdefault(key, {})[method] = count
        creates_by_name: Counter[str] = Counter()
        for key, count in creates.items():
            creates_by_name[key.rsplit("/", 1)[-1]] += count
        return {
            "total": sum(self.requests.values()),
            "requests": [
                {"method": method, "route": route, "status": status, "count": count}
                for (method, route, status), count in sorted(self.requests.items())
            ],
            "by_route": dict(sorted(by_route.items())),
            "creates": dict(sorted(creates.items())),
            "creates_by_name": dict(sorted(creates_by_name.items())),
            "writes": writes,
            "api_versions": dict(sorted(self.api_versions.items())),
            "throttled": self.throttled,
            "faults_fired": self.faults,
        }
