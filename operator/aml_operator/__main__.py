"""``aml-operator`` / ``python -m aml_operator``: runs the kopf operator with the project's settings."""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import sys

import kopf

from aml_operator import __version__
from aml_operator.settings import Settings


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="aml-operator",
        description="Manage Azure Machine Learning compute targets as Kubernetes resources.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--namespace", "-n", action="append", default=None,
        help="namespace to watch (repeatable); cluster-wide when absent (env AML_OPERATOR_NAMESPACES)",
    )
    parser.add_argument("--liveness", default=None, help="liveness endpoint URL, e.g. http://0.0.0.0:8080/healthz")
    parser.add_argument("--verbose", action="store_true",
                        help="debug logging, including every HTTP request to Azure (headers redacted by azure-core)")
    parser.add_argument("--log-format", choices=("text", "json"), default=None,
                        help="text lines or one JSON object a line (env AML_LOG_FORMAT; text by default)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    settings = Settings.from_env()
    namespaces = tuple(args.namespace or settings.namespaces)
    import aml_operator.handlers  # noqa: F401  (registers the handlers with kopf)
    from aml_operator.handlers import logs, watch_bodies

    watch_bodies.install()

    logs.configure("json" if (args.log_format or settings.log_format) == "json" else "text", args.verbose)
    identity = peering_identity()
    kopf.run(
        clusterwide=not namespaces,
        namespaces=list(namespaces),
        liveness_endpoint=args.liveness or settings.liveness_endpoint,
        standalone=settings.standalone,
        peering_name=settings.peering or None,
        identity=identity,  # type: ignore[arg-type]  # kopf's NewType over str
        # The startup handler writes this replica's peering record under the same identity and namespaces.
        memo=kopf.Memo(peering_identity=identity, watched_namespaces=namespaces),
    )
    return 0


def peering_identity() -> str:
    """This replica's name among its peers: the pod's name (POD_ID, from the downward API), else
    host/pid-random (no user name: an image's uid may have none)."""
    return os.environ.get("POD_ID") or f"{socket.gethostname()}/{os.getpid()}-{secrets.token_hex(3)}"


if __name__ == "__main__":
    sys.exit(main())
