"""Faults on demand: per-route rates of 5xx, 429, dropped connections, slow answers and failed operations.

Each rule draws from its own random generator seeded from `--seed` and the rule's position, so the
sequence of decisions for the requests a rule matches is the same on every run.
"""

from __future__ import annotations

import fnmatch
import random
from dataclasses import dataclass, field
from typing import Any

from .config import FaultRule

REQUEST_KINDS = ("500", "503", "429", "drop", "slow")


@dataclass
class ActiveRule:
    rule: FaultRule
    rng: random.Random
    matched: int = 0
    fired: int = 0

    def describe(self) -> dict[str, Any]:
        return {**self.rule.model_dump(), "matched": self.matched, "fired": self.fired}


@dataclass
class Faults:
    seed: int
    rules: list[ActiveRule] = field(default_factory=list)
    _added: int = 0

    def set_rules(self, rules: list[FaultRule]) -> None:
        self.rules = []
        self.add_rules(rules)

    def add_rules(self, rules: list[FaultRule]) -> None:
        for rule in rules:
            rng = random.Random(f"{self.seed}:{self._added}")
            self._added += 1
            self.rules.append(ActiveRule(rule=rule, rng=rng))

    def clear(self) -> None:
        self.rules = []
        self._added = 0

    def _draw(self, kinds: tuple[str, ...], route: str, method: str, compute: str | None) -> FaultRule | None:
        for active in self.rules:
            rule = active.rule
            if rule.kind not in kinds:
                continue
            if not fnmatch.fnmatchcase(route, rule.route):
                continue
            if rule.method is not None and rule.method.upper() != method:
                continue
            if rule.compute is not None and (
                compute is None or not fnmatch.fnmatch(compute.lower(), rule.compute.lower())
            ):
                continue
            if rule.count is not None and active.fired >= rule.count:
                continue
            active.matched += 1
            if active.rng.random() < rule.rate:
                active.fired += 1
                return rule
        return None

    def for_request(self, route: str, method: str, compute: str | None) -> FaultRule | None:
        """A fault that replaces or delays the answer to this request."""
        return self._draw(REQUEST_KINDS, route, method, compute)

    def for_operation(self, route: str, method: str, compute: str | None) -> FaultRule | None:
        """A fault that makes the operation this request starts end Failed."""
        return self._draw(("fail_operation",), route, method, compute)

    def describe(self) -> list[dict[str, Any]]:
        return [active.describe() for active in self.rules]
