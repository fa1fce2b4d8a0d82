"""All operator configuration in one typed place, read from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(item.strip() for item in (value or "").split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    namespaces: tuple[str, ...] = field(default_factory=tuple)
    """Namespaces to watch; empty means cluster-wide."""
    liveness_endpoint: str = "http://0.0.0.0:8080/healthz"
    standalone: bool = True
    """Skip kopf peering (one replica). More replicas need peering."""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        return cls(
            namespaces=_csv(env.get("AML_OPERATOR_NAMESPACES")),
            liveness_endpoint=env.get("AML_OPERATOR_LIVENESS", cls.liveness_endpoint),
            standalone=env.get("AML_OPERATOR_PEERING", "") == "",
        )
