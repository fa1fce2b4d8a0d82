"""Checks against Azure's catalogue before the first write: a refusal here costs no Azure write.

VM size offered in the workspace's region, low priority possible for it, room in the family's
quota for the nodes that must run at once (Azure's rule). Pure functions over what the adapter listed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aml_operator.reconcile.external import Usage, VmSize

DEDICATED_FAMILY = "vmfamily/dedicatedcores/usages"
LOW_PRIORITY_FAMILY = "vmfamily/lowprioritycores/usages"
TOTAL_DEDICATED = "totaldedicatedcores/usages"
TOTAL_LOW_PRIORITY = "totallowprioritycores/usages"


@dataclass(frozen=True)
class Refusal:
    reason: str
    message: str
    blocking: bool = True
    """False: Azure would accept the compute; the user is warned (e.g. a maximum beyond the quota)."""


def find_vm_size(sizes: Sequence[VmSize], name: str) -> VmSize | None:
    wanted = name.lower()
    return next((size for size in sizes if size.name.lower() == wanted), None)


def check_vm_size(sizes: Sequence[VmSize], name: str, location: str, field: str = "spec.vmSize",
                  compute_type: str | None = None) -> VmSize | Refusal:
    size = find_vm_size(sizes, name)
    if size is None:
        return Refusal("VmSizeNotAvailable", f"{field} {name} is not offered in {location}")
    if compute_type and size.supported_compute_types and compute_type not in size.supported_compute_types:
        return Refusal("VmSizeNotAvailable",
                       f"{field} {name} cannot be used for {compute_type} in {location} "
                       f"(it supports {', '.join(size.supported_compute_types)})")
    return size


def check_low_priority(size: VmSize, location: str) -> Refusal | None:
    if size.low_priority_capable:
        return None
    return Refusal("LowPriorityNotSupported",
                   f"spec.vmPriority LowPriority is not possible for {size.name} in {location}; use Dedicated")


def _usage(usages: Sequence[Usage], type_suffix: str, name: str | None = None) -> Usage | None:
    for usage in usages:
        if usage.type.lower().endswith(type_suffix) and (name is None or usage.name.lower() == name.lower()):
            return usage
    return None


def check_quota(usages: Sequence[Usage], size: VmSize, nodes: int, low_priority: bool,
                location: str, max_nodes: int | None = None) -> Refusal | None:
    """Room for ``nodes`` nodes of ``size`` (family quota, then the regional total), as Azure checks it.

    Azure refuses a compute only when the nodes it must run at once do not fit; a maximum beyond the
    quota merely caps scale-up, so it earns a non-blocking warning.
    """
    family_type, total_type = ((LOW_PRIORITY_FAMILY, TOTAL_LOW_PRIORITY) if low_priority
                               else (DEDICATED_FAMILY, TOTAL_DEDICATED))
    kind = "low-priority" if low_priority else "dedicated"
    for usage, what in ((_usage(usages, family_type, size.family), f"{size.family} {kind}"),
                        (_usage(usages, total_type), f"total {kind}")):
        if usage is None or usage.limit < 0:
            continue
        free = usage.limit - usage.current
        quota = f"the {what} quota in {location} has {free} free ({usage.current} of {usage.limit} used)"
        if nodes * size.vcpus > free:
            return Refusal(
                "QuotaExceeded",
                f"{nodes} node(s) x {size.vcpus} vCPUs of {size.name} need {nodes * size.vcpus} {kind} cores, "
                f"but {quota}",
            )
        if max_nodes is not None and max_nodes * size.vcpus > free:
            return Refusal(
                "MaxNodesBeyondQuota",
                f"spec.scaleSettings.maxNodeCount {max_nodes} x {size.vcpus} vCPUs of {size.name} needs "
                f"{max_nodes * size.vcpus} {kind} cores, but {quota}: the cluster cannot scale beyond "
                f"{free // size.vcpus} node(s) until the quota is raised",
                blocking=False,
            )
    return None
