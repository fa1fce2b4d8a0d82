"""Benchmark (not a test): requests per second the emulator sustains on this machine.

Runs `aml-emulator` as a subprocess (throttling off, zero provisioning delays) and drives it with
aiohttp from this process:
  - GET of one compute, with N concurrent clients;
  - PUT of a new AmlCompute followed by polling its Azure-AsyncOperation URL until Succeeded.
These are the ceilings the operator's own figures are later compared to.

    .venv/bin/python tests/bench/bench_emulator.py [--seconds 5] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from aml_emulator.testing import RunningEmulator, start_emulator_process

CONFIG = """
throttling: {enabled: false}
timing: {scale: 0}
lro: {retry_after_seconds: 0}
default_quotas: {total_dedicated_cores: 1000000, dedicated_cores_per_family: {standardDSv2Family: 1000000}}
"""


async def _token(session: aiohttp.ClientSession, emu: RunningEmulator, ssl: Any) -> str:
    form = {
        "grant_type": "client_credentials",
        "client_id": emu.client_id,
        "client_secret": emu.client_secret,
        "scope": "https://management.azure.com/.default",
    }
    async with session.post(emu.token_endpoint, data=form, ssl=ssl) as reply:
        return str((await reply.json())["access_token"])


async def _run(emu: RunningEmulator, seconds: float, concurrency: int, *, gets: bool = True,
               honour_retry_after: bool = False) -> dict[str, float]:
    """GETs of one compute, then creates (PUT, poll to Succeeded, GET) in a loop, per second.

    ``honour_retry_after`` sleeps as long as the operation's ``Retry-After`` asks between polls, as
    a well-behaved client does, so a slow create is not measured as a storm of polls.
    """
    ssl = emu.ssl_context()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        headers = {"Authorization": f"Bearer {await _token(session, emu, ssl)}"}
        base = (
            f"{emu.url}/subscriptions/{emu.subscription_id}/resourceGroups/{emu.resource_group}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{emu.workspace}/computes"
        )
        version = "?api-version=2020-08-01"
        body = {
            "location": "westeurope",
            "properties": {
                "computeType": "AmlCompute",
                "properties": {"vmSize": "Standard_DS3_v2", "scaleSettings": {"minNodeCount": 0, "maxNodeCount": 2}},
            },
        }
        async with session.put(f"{base}/bench0{version}", json=body, headers=headers, ssl=ssl) as reply:
            assert reply.status == 201, await reply.text()

        async def get_loop(deadline: float) -> int:
            done = 0
            while time.monotonic() < deadline:
                async with session.get(f"{base}/bench0{version}", headers=headers, ssl=ssl) as reply:
                    assert reply.status == 200
                    await reply.read()
                done += 1
            return done

        counter = itertools.count(1)

        async def put_loop(deadline: float) -> tuple[int, int]:
            done = requests = 0
            while time.monotonic() < deadline:
                name = f"bench{next(counter)}"
                async with session.put(f"{base}/{name}{version}", json=body, headers=headers, ssl=ssl) as reply:
                    assert reply.status == 201, await reply.text()
                    status_url = reply.headers["Azure-AsyncOperation"]
                requests += 1
                while True:
                    async with session.get(status_url, headers=headers, ssl=ssl) as reply:
                        status = (await reply.json())["status"]
                        pause = float(reply.headers.get("Retry-After") or 0) if honour_retry_after else 0.0
                    requests += 1
                    if status == "InProgress" and pause:
                        await asyncio.sleep(pause)
                    if status != "InProgress":
                        break
                async with session.get(f"{base}/{name}{version}", headers=headers, ssl=ssl) as reply:
                    assert (await reply.json())["properties"]["provisioningState"] == "Succeeded"
                requests += 1
                done += 1
            return done, requests

        results: dict[str, float] = {}
        if gets:
            started = time.monotonic()
            done = await asyncio.gather(*(get_loop(started + seconds) for _ in range(concurrency)))
            results["get_per_second"] = sum(done) / (time.monotonic() - started)
        started = time.monotonic()
        puts = await asyncio.gather(*(put_loop(started + seconds) for _ in range(concurrency)))
        elapsed = time.monotonic() - started
        results["put_completed_per_second"] = sum(p[0] for p in puts) / elapsed
        results["put_phase_requests_per_second"] = sum(p[1] for p in puts) / elapsed
        return results


def create_ceiling(emu: RunningEmulator, seconds: float, concurrency: int) -> float:
    """Computes per second the emulator creates for a client that does nothing else (at its own delays)."""
    results = asyncio.run(_run(emu, seconds, concurrency, gets=False, honour_retry_after=True))
    return results["put_completed_per_second"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bench.yaml"
        config.write_text(CONFIG)
        process = start_emulator_process(["--config", str(config)])
        try:
            results = asyncio.run(_run(process.info, args.seconds, args.concurrency))
        finally:
            process.stop()
    print(f"aml-emulator benchmark: {args.concurrency} concurrent clients, {args.seconds:.0f} s per phase (https)")
    print(f"  GET compute:                       {results['get_per_second']:8.1f} requests/s")
    print(f"  PUT + poll to Succeeded + GET:     {results['put_completed_per_second']:8.1f} computes/s")
    print(f"  requests/s during the PUT phase:   {results['put_phase_requests_per_second']:8.1f}")


if __name__ == "__main__":
    main()
