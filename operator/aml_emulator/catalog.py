"""VM sizes offered per region, in the `VirtualMachineSize` shape of api-version 2020-08-01."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .catalog_data import VM_SIZE_ROWS
from .config import EmulatorConfig, VmSizeConfig


@dataclass(frozen=True)
class VmSize:
    name: str
    family: str
    vcpus: int
    gpus: int
    os_vhd_size_mb: int
    max_resource_volume_mb: int
    memory_gb: float
    low_priority_capable: bool
    premium_io: bool
    prices: tuple[float, float, float, float]
    supported_compute_types: tuple[str, ...]

    def to_arm(self) -> dict[str, Any]:
        lp_linux, lp_windows, std_linux, std_windows = self.prices
        memory: float | int = int(self.memory_gb) if self.memory_gb.is_integer() else self.memory_gb
        return {
            "name": self.name,
            "family": self.family,
            "vCPUs": self.vcpus,
            "gpus": self.gpus,
            "osVhdSizeMB": self.os_vhd_size_mb,
            "maxResourceVolumeMB": self.max_resource_volume_mb,
            "memoryGB": memory,
            "lowPriorityCapable": self.low_priority_capable,
            "premiumIO": self.premium_io,
            "estimatedVMPrices": {
                "billingCurrency": "USD",
                "unitOfMeasure": "OneHour",
                "values": [
                    {"retailPrice": lp_linux, "osType": "Linux", "vmTier": "LowPriority"},
                    {"retailPrice": lp_windows, "osType": "Windows", "vmTier": "LowPriority"},
                    {"retailPrice": std_linux, "osType": "Linux", "vmTier": "Standard"},
                    {"retailPrice": std_windows, "osType": "Windows", "vmTier": "Standard"},
                ],
            },
            "supportedComputeTypes": list(self.supported_compute_types),
        }


def family_display(family: str) -> str:
    """`standardNCFamily` → `Standard NC`, the wording of usages and quota messages."""
    core = family
    if core.lower().startswith("standard"):
        core = core[len("standard") :]
    if core.lower().endswith("family"):
        core = core[: -len("family")]
    return f"Standard {core}"


def family_usage_name(family: str) -> str:
    """Usages and quotas name families with a capital S (`StandardNCFamily`)."""
    return family[:1].upper() + family[1:]


def _from_config(entry: VmSizeConfig) -> VmSize:
    return VmSize(
        name=entry.name,
        family=entry.family,
        vcpus=entry.vCPUs,
        gpus=entry.gpus,
        os_vhd_size_mb=entry.osVhdSizeMB,
        max_resource_volume_mb=entry.maxResourceVolumeMB,
        memory_gb=float(entry.memoryGB),
        low_priority_capable=entry.lowPriorityCapable,
        premium_io=entry.premiumIO,
        prices=(0.0, 0.0, 0.0, 0.0),
        supported_compute_types=tuple(entry.supportedComputeTypes),
    )


class Catalogue:
    def __init__(self, config: EmulatorConfig) -> None:
        sizes = {row[0].lower(): VmSize(*row) for row in VM_SIZE_ROWS}
        for extra in config.extra_vm_sizes:
            sizes[extra.name.lower()] = _from_config(extra)
        self._sizes = sizes
        self._config = config

    def sizes_in(self, location: str) -> list[VmSize]:
        region = self._config.regions.get(location.lower())
        if region is None or region.vm_sizes is None:
            return list(self._sizes.values())
        offered = [self._sizes.get(name.lower()) for name in region.vm_sizes]
        return [size for size in offered if size is not None]

    def find(self, location: str, name: str) -> VmSize | None:
        """A size offered in `location`, matched case-insensitively (the service upper-cases names)."""
        wanted = name.lower()
        return next((size for size in self.sizes_in(location) if size.name.lower() == wanted), None)

    def any_region(self, name: str) -> VmSize | None:
        return self._sizes.get(name.lower())

    def families(self) -> list[str]:
        seen: dict[str, str] = {}
        for size in self._sizes.values():
            seen.setdefault(size.family.lower(), size.family)
        return list(seen.values())
