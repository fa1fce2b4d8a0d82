"""``aml-emulator``: serves the local Azure ML emulator until interrupted.

Once listening it prints one line to stdout, `AML_EMULATOR_READY {json}`, with the URL, the CA file
and the default identities, so a parent process (tests, scripts) knows where to connect.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

from .config import (
    DEFAULT_CLIENT_ID,
    DEFAULT_LOCATION,
    DEFAULT_RESOURCE_GROUP,
    DEFAULT_SUBSCRIPTION_ID,
    DEFAULT_TENANT_ID,
    DEFAULT_WORKSPACE,
    load_config,
)
from .server import READY_PREFIX, serve


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="aml-emulator", description="Local Azure ML ARM emulator (api-versions 2018-03-01-preview to 2025-09-01)."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8443, help="port to listen on; 0 picks a free one (default 8443)")
    parser.add_argument("--config", type=Path, help="YAML or JSON configuration file")
    parser.add_argument("--state", type=Path, help="file that keeps the state across restarts")
    parser.add_argument(
        "--profile",
        choices=("live", "spec"),
        help="answer as recorded Azure traffic shows (live, the default) or as the 2020-08-01 spec examples read",
    )
    parser.add_argument(
        "--retry-after",
        type=int,
        metavar="SECONDS",
        help="send Retry-After on long-running operations so clients poll faster than Azure lets them (tests); "
        "Azure sends none (default 0: none)",
    )
    parser.add_argument("--seed", type=int, help="seed of the fault injection (default 0)")
    parser.add_argument("--ca-file", type=Path, help="CA certificate to load or create (key beside it as <file>.key)")
    parser.add_argument("--insecure-http", action="store_true", help="serve plain http (debugging only)")
    parser.add_argument("--timing-scale", type=float, help="multiply every provisioning delay by this factor")
    parser.add_argument(
        "--tls-name", action="append", default=[], help="extra DNS name or IP for the server certificate"
    )
    parser.add_argument("--access-log", action="store_true", help="log every request line")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


async def _run(args: argparse.Namespace) -> None:
    config = load_config(args.config)
    if args.profile:
        config.profile = args.profile
    if args.seed is not None:
        config.seed = args.seed
    if args.timing_scale is not None:
        config.timing.scale = args.timing_scale
    if args.retry_after is not None:
        config.lro.retry_after_seconds = args.retry_after
    config.tls.extra_names.extend(args.tls_name)
    served = await serve(
        config,
        host=args.host,
        port=args.port,
        state_path=args.state,
        ca_file=args.ca_file,
        insecure_http=args.insecure_http,
        access_log=args.access_log,
    )
    ready = {
        "url": served.url,
        "port": served.port,
        "ca_file": str(served.ca_file) if served.ca_file else None,
        "profile": config.profile,
        "tenant_id": DEFAULT_TENANT_ID,
        "subscription_id": DEFAULT_SUBSCRIPTION_ID,
        "resource_group": DEFAULT_RESOURCE_GROUP,
        "workspace": DEFAULT_WORKSPACE,
        "location": DEFAULT_LOCATION,
        "client_id": DEFAULT_CLIENT_ID,
    }
    print(READY_PREFIX + json.dumps(ready), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await served.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(_run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
