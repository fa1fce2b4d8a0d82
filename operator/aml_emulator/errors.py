"""ARM error bodies (`{"error": {"code", "message", "target"?, "details": [...]}}`) and Entra token refusals."""

from __future__ import annotations

import time
import uuid
from typing import Any


class ArmError(Exception):
    """An ARM refusal; handlers raise it and the app turns it into the JSON error body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        target: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.details = details or []
        self.headers = headers or {}

    def error_object(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target is not None:
            error["target"] = self.target
        error["details"] = self.details
        return error

    def body(self) -> dict[str, Any]:
        return {"error": self.error_object()}


def bad_request(code: str, message: str, *, target: str | None = None, **kwargs: Any) -> ArmError:
    return ArmError(400, code, message, target=target, **kwargs)


def not_found(resource_type: str, name: str, resource_group: str) -> ArmError:
    # ARM's own wording for a missing resource under a resource group.
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{resource_type}/{name}' under resource group '{resource_group}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def conflict(message: str = "The request failed due to conflict with a concurrent request.") -> ArmError:
    return ArmError(409, "Conflict", message)


class TokenError(Exception):
    """A refusal of the token endpoint, in Entra's OAuth error format."""

    def __init__(self, status: int, error: str, aadsts: int, description: str) -> None:
        super().__init__(f"AADSTS{aadsts}")
        self.status = status
        self.error = error
        self.aadsts = aadsts
        self.description = description

    def body(self) -> dict[str, Any]:
        trace = str(uuid.uuid4())
        return {
            "error": self.error,
            "error_description": f"AADSTS{self.aadsts}: {self.description} Trace ID: {trace}",
            "error_codes": [self.aadsts],
            "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
            "trace_id": trace,
            "correlation_id": str(uuid.uuid4()),
        }
