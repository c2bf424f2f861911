"""The prices the simulator charges, written out as ``DIR/pricebook.toml`` (format: docs/pricebook.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

AS_OF = "2026-05-18"
SRC_GPU = "nebius.com/prices via opslyft.com (2026-05-18); L40S via silybench-data (2026-09-25)"
SRC_CPU = "derived: Nebius bundles vCPU/RAM with GPUs; small unit prices keep the node near the GPU price"


@dataclass(frozen=True)
class NodePrice:
    instance_type: str
    capacity_type: str
    gpu_hourly: float
    cpu_core_hourly: float
    ram_gib_hourly: float
    source: str
    as_of: str = AS_OF


NODE_PRICES: dict[tuple[str, str], NodePrice] = {p[:2]: NodePrice(*p) for p in [
    ("cpu-d3.16vcpu-64gb", "on-demand", 0.0, 0.0285, 0.0038,
     "derived from Nebius cpu-d3 list prices (16 vCPU / 64 GiB ≈ $0.70/h)"),
    ("gpu-h100-sxm.8gpu-128vcpu-1600gb", "on-demand", 2.95, 0.012, 0.0016, f"{SRC_GPU}; cpu/ram {SRC_CPU}"),
    ("gpu-h100-sxm.8gpu-128vcpu-1600gb", "spot", 1.25, 0.005, 0.0007, f"{SRC_GPU}; cpu/ram {SRC_CPU}"),
    ("gpu-l40s-a.4gpu-96vcpu-576gb", "on-demand", 1.55, 0.012, 0.0016, f"{SRC_GPU}; cpu/ram {SRC_CPU}"),
]}

STORAGE_PRICES = {"STANDARD": 0.0147, "ENHANCED_THROUGHPUT": 0.11, "STANDARD_IA": 0.0125, "GLACIER_IR": 0.004}
STORAGE_SOURCE = "docs.nebius.com/object-storage/resources/pricing (STANDARD, ENHANCED_THROUGHPUT); others AWS-like"
VOLUME_PRICES = {"network-ssd": 0.12, "network-hdd": 0.05}  # $/GiB-month by StorageClass
VOLUME_SOURCE = "illustrative neocloud block-storage list prices (network-ssd / network-hdd), 2026-11"
EGRESS_PRICES = {"in-zone": 0.0, "cross-zone": 0.01, "cross-region": 0.02, "internet": 0.09}
EGRESS_SOURCE = "AWS data transfer pricing (first 10 TB to internet), used as a conservative neocloud stand-in"
EGRESS_SPLIT = {"in-zone": 0.70, "cross-region": 0.20, "internet": 0.10}
EGRESS_PER_GIB = sum(EGRESS_SPLIT[c] * EGRESS_PRICES[c] for c in EGRESS_SPLIT)
HOURS_PER_MONTH = 730.0


def node_price(instance_type: str, capacity_type: str) -> NodePrice:
    return NODE_PRICES[(instance_type, capacity_type)]


def write_pricebook(path: Path, used: set[tuple[str, str]]) -> Path:
    """TOML with a row for every (instance type, capacity type) the cluster used, storage, volumes and egress."""
    lines = ['name = "neocost-simulator"', 'currency = "USD"', "",
             "# Prices the simulator charged; truth.json is computed with exactly these numbers.", ""]
    for key in sorted(used):
        p = NODE_PRICES[key]
        lines += ["[[node]]", f'instance_type = "{p.instance_type}"', f'capacity_type = "{p.capacity_type}"',
                  f"gpu_hourly = {p.gpu_hourly}", f"cpu_core_hourly = {p.cpu_core_hourly}",
                  f"ram_gib_hourly = {p.ram_gib_hourly}", f'source = "{p.source}"', f'as_of = "{p.as_of}"', ""]
    for cls, price in STORAGE_PRICES.items():
        lines += ["[[storage]]", f'class = "{cls}"', f"gib_month = {price}", f'source = "{STORAGE_SOURCE}"',
                  'as_of = "2026-01-01"', ""]
    for cls, price in VOLUME_PRICES.items():
        lines += ["[[volume]]", f'class = "{cls}"', f"gib_month = {price}", f'source = "{VOLUME_SOURCE}"',
                  'as_of = "2026-11-01"', ""]
    for cls, price in EGRESS_PRICES.items():
        lines += ["[[egress]]", f'class = "{cls}"', f"gib = {price}", f'source = "{EGRESS_SOURCE}"',
                  'as_of = "2026-01-01"', ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
