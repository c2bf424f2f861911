"""Price books: built-in books, TOML validation, OpenCost CSV, override order, ratio split."""

from __future__ import annotations

from pathlib import Path

import pytest

from costmodel import pricebook as pb
from neocost.errors import PriceError


def test_builtin_books_load_and_every_row_is_sourced() -> None:
    for name in ("neocloud", "hyperscaler"):
        book = pb.load(name)
        assert book.currency == "USD"
        assert book.nodes and book.storage and set(book.egress) == set(pb.EGRESS_CLASSES)
        assert all(r.source and r.as_of for r in book.nodes.values())
    neo = pb.load("neocloud")
    assert neo.nodes[("gpu-h100-sxm.8gpu-128vcpu-1600gb", "spot")].gpu_hourly == 1.25
    assert neo.storage_price("STANDARD") == 0.0147


def test_ratio_split_matches_opencost() -> None:
    d = pb.Defaults()  # CPU 0.031611, RAM 0.004237, GPU 0.95
    cpu_to_ram, gpu_to_ram = 0.031611 / 0.004237, 0.95 / 0.004237
    g, c, r = pb.ratio_split(10.0, gpus=1, cores=8, ram_gib=64, defaults=d)
    ram = 10.0 / (1 * gpu_to_ram + 8 * cpu_to_ram + 64)
    assert (g, c, r) == pytest.approx((ram * gpu_to_ram, ram * cpu_to_ram, ram))
    assert g + 8 * c + 64 * r == pytest.approx(10.0)
    # a known GPU price is subtracted first: H200 VM 3.50 with GPU 2.668 -> 0.832 over 16 vCPU + 200 GiB
    g, c, r = pb.ratio_split(3.50, gpus=1, cores=16, ram_gib=200, defaults=d, gpu_hourly=2.668)
    assert g == 2.668 and 16 * c + 200 * r == pytest.approx(0.832)
    assert c / r == pytest.approx(cpu_to_ram)


def test_resolution_order_user_file_overrides_base(tmp_path: Path) -> None:
    f = tmp_path / "mine.toml"
    f.write_text('[[node]]\ninstance_type = "gpu-h100-sxm.8gpu-128vcpu-1600gb"\ncapacity_type = "spot"\n'
                 'gpu_hourly = 0.99\ncpu_core_hourly = 0.0\nram_gib_hourly = 0.0\nsource = "contract"\n'
                 'as_of = "2026-11-01"\n')
    book = pb.load("neocloud", [f])
    p = book.resolve(node="n", instance_type="gpu-h100-sxm.8gpu-128vcpu-1600gb", capacity_type="SPOT",
                     gpu_product=None, gpus=8, cores=128, ram_gib=1600)
    assert (p.gpu_hourly, p.source) == (0.99, "contract")
    # untouched rows still come from the base book
    p = book.resolve(node="n", instance_type="gpu-h100-sxm.8gpu-128vcpu-1600gb", capacity_type="on-demand",
                     gpu_product=None, gpus=8, cores=128, ram_gib=1600)
    assert p.gpu_hourly == 2.95


def test_unknown_node_gets_defaults_spot_defaults_and_gpu_product_price() -> None:
    book = pb.load("neocloud")
    p = book.resolve(node="x", instance_type="nope", capacity_type="spot", gpu_product=None, gpus=0, cores=2,
                     ram_gib=4)
    assert p.defaulted and (p.cpu_core_hourly, p.ram_gib_hourly) == (0.006655, 0.000892)
    p = book.resolve(node="x", instance_type="nope", capacity_type="on-demand", gpu_product="NVIDIA-L40S", gpus=1,
                     cores=2, ram_gib=4)
    assert p.defaulted and p.gpu_hourly == 1.55 and p.cpu_core_hourly == 0.031611


def test_discount_applies_to_cpu_and_ram_only() -> None:
    book = pb.parse_toml({"node": [{"instance_type": "t", "capacity_type": "reserved", "gpu_hourly": 2.0,
                                    "cpu_core_hourly": 0.1, "ram_gib_hourly": 0.01, "source": "s", "as_of": "d"}],
                          "discount": [{"capacity_type": "reserved", "cpu_ram": 0.25, "source": "s", "as_of": "d"}]})
    p = book.resolve(node="n", instance_type="t", capacity_type="reserved", gpu_product=None, gpus=1, cores=1,
                     ram_gib=1)
    assert (p.gpu_hourly, p.cpu_core_hourly, p.ram_gib_hourly) == pytest.approx((2.0, 0.075, 0.0075))


@pytest.mark.parametrize(("row", "message"), [
    ({"instance_type": "t", "capacity_type": "lunar", "hourly": 1, "source": "s", "as_of": "d"},
     r"\[\[node\]\] #1 \('t', 'lunar'\): unknown capacity_type 'lunar'"),
    ({"instance_type": "t", "capacity_type": "spot", "hourly": -1, "source": "s", "as_of": "d"},
     r"#1 \('t', 'spot'\): hourly = -1 must be a non-negative number"),
    ({"instance_type": "t", "capacity_type": "spot", "hourly": 1},
     r"#1 \('t', 'spot'\): every row needs `source` and `as_of`"),
    ({"instance_type": "t", "capacity_type": "spot", "gpu_hourly": 1, "source": "s", "as_of": "d"},
     r"give cpu_core_hourly \+ ram_gib_hourly"),
])
def test_malformed_rows_are_errors_naming_the_row(row: dict, message: str) -> None:
    with pytest.raises(PriceError, match=message):
        pb.parse_toml({"node": [row]}, "book.toml")


def test_unknown_node_capacity_type_names_the_node() -> None:
    with pytest.raises(PriceError, match="node 'n7'.*'on_request'"):
        pb.load("neocloud").resolve(node="n7", instance_type="t", capacity_type="on_request", gpu_product=None,
                                    gpus=0, cores=1, ram_gib=1)
    assert pb.normalise_capacity_type("ON_DEMAND", where="x") == "on-demand"
    assert pb.normalise_capacity_type(None, where="x") == "on-demand"


def test_opencost_csv(tmp_path: Path) -> None:
    f = tmp_path / "prices.csv"
    f.write_text("EndTimestamp,InstanceID,Region,AssetClass,InstanceIDField,InstanceType,MarketPriceHourly,Version\n"
                 "2026-11-01,,eu-north1,node,metadata.labels.node.kubernetes.io/instance-type,cpu-x,0.40,\n"
                 "2026-11-01,node-7,eu-north1,node,metadata.name,,1.00,\n"
                 "2026-11-01,,eu-north1,gpu,nvidia.com/gpu_type,NVIDIA-H100-80GB-HBM3,2.10,\n"
                 "2026-11-01,pv-1,eu-north1,pv,,,0.0001,\n"
                 "2026-11-01,fast-ssd,eu-north1,pv,spec.storageClassName,,0.0002,\n")
    book = pb.load("neocloud", [f])
    # pv rows are $/GiB-hour (OpenCost's unit), kept as $/GiB-month (x 730)
    assert book.volume_names["pv-1"][0] == pytest.approx(0.073)
    assert book.volumes["fast-ssd"][0] == pytest.approx(0.146)
    by_type = book.resolve(node="a", instance_type="cpu-x", capacity_type="spot", gpu_product=None, gpus=0,
                           cores=4, ram_gib=16)
    assert 4 * by_type.cpu_core_hourly + 16 * by_type.ram_gib_hourly == pytest.approx(0.40)
    by_name = book.resolve(node="node-7", instance_type="cpu-x", capacity_type="on-demand", gpu_product=None,
                           gpus=0, cores=2, ram_gib=8)
    assert 2 * by_name.cpu_core_hourly + 8 * by_name.ram_gib_hourly == pytest.approx(1.00)
    gpu = book.resolve(node="g", instance_type="other", capacity_type="on-demand",
                       gpu_product="NVIDIA-H100-80GB-HBM3", gpus=8, cores=1, ram_gib=1)
    assert gpu.gpu_hourly == 2.10


def test_opencost_csv_bad_rows(tmp_path: Path) -> None:
    f = tmp_path / "bad.csv"
    f.write_text("EndTimestamp,InstanceID,Region,AssetClass,InstanceIDField,InstanceType,MarketPriceHourly,Version\n"
                 "2026-11-01,,r,node,,cpu-x,lots,\n")
    with pytest.raises(PriceError, match="bad.csv line 2: MarketPriceHourly 'lots'"):
        pb.load_file(f)
    f.write_text("a,b\n1,2\n")
    with pytest.raises(PriceError, match="not an OpenCost pricing CSV"):
        pb.load_file(f)
