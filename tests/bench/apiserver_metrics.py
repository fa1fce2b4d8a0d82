"""Requests the kube-apiserver has served, by verb and resource, from its own ``apiserver_request_total``."""

from __future__ import annotations

import re
from collections import Counter

from controlplane import ControlPlane

_SAMPLE = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')

RequestCounts = Counter[tuple[str, str]]
"""(verb, resource) → requests; subresources as ``resource/subresource``."""


def parse_request_totals(exposition: str) -> RequestCounts:
    counts: RequestCounts = Counter()
    for line in exposition.splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        labels = dict(_LABEL.findall(match["labels"]))
        resource = labels.get("resource", "")
        if labels.get("subresource"):
            resource += "/" + labels["subresource"]
        counts[(labels.get("verb", ""), resource)] += int(float(match["value"]))
    return counts


def request_totals(plane: ControlPlane) -> RequestCounts:
    return parse_request_totals(plane.kubectl("get", "--raw", "/metrics").stdout)


def since(before: RequestCounts, after: RequestCounts) -> RequestCounts:
    """Requests between two readings, without the ones the readings themselves made."""
    delta = after - before
    delta.pop(("GET", ""), None)  # kubectl get --raw /metrics is a non-resource GET
    return delta
