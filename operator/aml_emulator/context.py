"""What a request handler receives, and the helpers every handler uses to answer."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .config import Workspace
from .errors import ArmError, bad_request

if TYPE_CHECKING:
    from .app import Emulator
    from .identity import Caller


@dataclass
class Ctx:
    emu: Emulator
    request: web.Request
    route: str
    params: dict[str, str]
    base: str  # scheme://host:port the client used, for the URLs we hand back
    request_id: str
    caller: Caller | None = None
    workspace: Workspace | None = None
    api_version: str = ""  # as the front door accepted it (lower case)
    headers: dict[str, str] = field(default_factory=dict)  # added to whatever the handler returns

    @property
    def live(self) -> bool:
        """Answer as recorded Azure traffic shows (the default profile), not as the 2020-08-01 spec reads."""
        return self.emu.config.profile == "live"

    @property
    def compute_name(self) -> str | None:
        return self.params.get("compute")

    async def json_body(self) -> Any:
        raw = await self.request.read()
        if not raw:
            raise bad_request("InvalidRequestContent", "The request content was invalid and could not be deserialized.")
        try:
            return json.loads(raw)
        except ValueError:
            raise bad_request(
                "InvalidRequestContent", "The request content was invalid and could not be deserialized."
            ) from None

    def query(self, name: str) -> str | None:
        # ARM query parameter names are case-insensitive.
        wanted = name.lower()
        for key, value in self.request.query.items():
            if key.lower() == wanted:
                return value
        return None


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(body).encode(),
        status=status,
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


def empty_response(status: int, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, headers=headers)


def error_response(error: ArmError) -> web.Response:
    return json_response(error.body(), error.status, dict(error.headers))
