"""Price books: TOML (docs/pricebook.md) and OpenCost's CSV pricing format, merged row by row.

Resolution order, lowest first: the built-in base book (``costmodel/pricebooks/<name>.toml``) < user files in
the order given. A node resolves to unit prices (GPU, CPU core, GiB of RAM per hour) from, in order: a
per-node CSV row (OpenCost ``InstanceID``), the ``[[node]]`` row for (instance type, capacity type), the
``[[gpu]]`` row for its GPU product, the defaults (spot defaults for spot nodes) with a warning. A whole-node
``hourly`` price is split with OpenCost's ratio method (:func:`ratio_split`).
"""

from __future__ import annotations

import csv
import io
import math
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from neocost.errors import PriceError

CAPACITY_TYPES = ("on-demand", "spot", "reserved")
EGRESS_CLASSES = ("in-zone", "cross-zone", "cross-region", "internet")
ANY = "*"  # capacity type of CSV rows, which do not carry one


@dataclass(frozen=True)
class Price:
    """Hourly unit prices of one node, and where they came from."""

    gpu_hourly: float
    cpu_core_hourly: float
    ram_gib_hourly: float
    source: str
    as_of: str
    defaulted: bool = False

    def node_hourly(self, gpus: float, cores: float, ram_gib: float) -> float:
        return gpus * self.gpu_hourly + cores * self.cpu_core_hourly + ram_gib * self.ram_gib_hourly


@dataclass(frozen=True)
class NodeRow:
    instance_type: str
    capacity_type: str
    gpu_hourly: float | None = None
    cpu_core_hourly: float | None = None
    ram_gib_hourly: float | None = None
    hourly: float | None = None
    source: str = ""
    as_of: str = ""


@dataclass(frozen=True)
class Defaults:
    cpu_core_hourly: float = 0.031611
    ram_gib_hourly: float = 0.004237
    gpu_hourly: float = 0.95
    spot_cpu_core_hourly: float = 0.006655
    spot_ram_gib_hourly: float = 0.000892
    spot_gpu_hourly: float = 0.40
    volume_gib_month: float = 0.10
    source: str = "OpenCost configs/default.json"
    as_of: str = "2024-10-24"


@dataclass
class PriceBook:
    name: str = "empty"
    currency: str = "USD"
    defaults: Defaults = field(default_factory=Defaults)
    nodes: dict[tuple[str, str], NodeRow] = field(default_factory=dict)      # (instance_type, capacity_type)
    node_names: dict[str, NodeRow] = field(default_factory=dict)             # OpenCost CSV InstanceID rows
    gpus: dict[tuple[str, str], tuple[float, str, str]] = field(default_factory=dict)  # (product, ct) -> hourly
    storage: dict[str, tuple[float, str, str]] = field(default_factory=dict)  # class -> $/GiB-month
    egress: dict[str, tuple[float, str, str]] = field(default_factory=dict)   # class -> $/GiB
    volumes: dict[str, tuple[float, str, str]] = field(default_factory=dict)  # StorageClass -> $/GiB-month
    volume_names: dict[str, tuple[float, str, str]] = field(default_factory=dict)  # PV name -> $/GiB-month
    discounts: dict[str, float] = field(default_factory=dict)                 # capacity type -> CPU/RAM fraction
    sources: list[str] = field(default_factory=list)

    # -- merging -------------------------------------------------------------------------------------------
    def merged(self, other: PriceBook) -> PriceBook:
        """This book overridden by ``other`` row by row (same key; a CSV row without a capacity type
        overrides the row of every capacity type)."""
        any_nodes = {k[0] for k in other.nodes if k[1] == ANY}
        any_gpus = {k[0] for k in other.gpus if k[1] == ANY}
        nodes = {k: v for k, v in self.nodes.items() if k[0] not in any_nodes}
        gpus = {k: v for k, v in self.gpus.items() if k[0] not in any_gpus}
        return PriceBook(
            name=other.name or self.name, currency=other.currency or self.currency,
            defaults=other.defaults if other.defaults != Defaults() or not self.sources else self.defaults,
            nodes={**nodes, **other.nodes}, node_names={**self.node_names, **other.node_names},
            gpus={**gpus, **other.gpus}, storage={**self.storage, **other.storage},
            egress={**self.egress, **other.egress}, volumes={**self.volumes, **other.volumes},
            volume_names={**self.volume_names, **other.volume_names}, discounts={**self.discounts, **other.discounts},
            sources=self.sources + other.sources)

    # -- lookups -------------------------------------------------------------------------------------------
    def storage_price(self, storage_class: str) -> float:
        """$/GiB-month for an S3 storage class (falls back to STANDARD, then 0.023)."""
        row = self.storage.get(storage_class.upper()) or self.storage.get("STANDARD")
        return row[0] if row else 0.023

    def volume_price(self, storage_class: str) -> float:
        """$/GiB-month of a persistent volume's StorageClass (exact name), else ``defaults.volume_gib_month``."""
        row = self.volumes.get(storage_class)
        return row[0] if row else self.defaults.volume_gib_month

    def egress_price(self, klass: str) -> float:
        row = self.egress.get(klass)
        return row[0] if row else 0.0

    def resolve(self, *, node: str, instance_type: str | None, capacity_type: str | None,
                gpu_product: str | None, gpus: float, cores: float, ram_gib: float) -> Price:
        """Unit prices for one node (see the module docstring for the order)."""
        ct = normalise_capacity_type(capacity_type, where=f"node {node!r}")
        spot = ct == "spot"
        row = (self.node_names.get(node) or self.nodes.get((instance_type or "", ct))
               or self.nodes.get((instance_type or "", ANY)))
        gpu_row = (self.gpus.get((gpu_product or "", ct)) or self.gpus.get((gpu_product or "", ANY))) \
            if gpu_product else None
        gpu_known = row.gpu_hourly if row and row.gpu_hourly is not None else (gpu_row[0] if gpu_row else None)
        discount = 1.0 - self.discounts.get(ct, 0.0)
        if row is not None and row.cpu_core_hourly is not None and row.ram_gib_hourly is not None:
            price = Price(gpu_known if gpu_known is not None else self._default_gpu(spot),
                          row.cpu_core_hourly, row.ram_gib_hourly, row.source, row.as_of)
        elif row is not None and row.hourly is not None:
            g, c, r = ratio_split(row.hourly, gpus=gpus, cores=cores, ram_gib=ram_gib, defaults=self.defaults,
                                  gpu_hourly=gpu_known)
            price = Price(g, c, r, row.source, row.as_of)
        else:
            d = self.defaults
            price = Price(gpu_known if gpu_known is not None else self._default_gpu(spot),
                          d.spot_cpu_core_hourly if spot else d.cpu_core_hourly,
                          d.spot_ram_gib_hourly if spot else d.ram_gib_hourly,
                          gpu_row[1] if gpu_row else d.source, gpu_row[2] if gpu_row else d.as_of,
                          defaulted=True)
        return replace(price, cpu_core_hourly=price.cpu_core_hourly * discount,
                       ram_gib_hourly=price.ram_gib_hourly * discount)

    def _default_gpu(self, spot: bool) -> float:
        return self.defaults.spot_gpu_hourly if spot else self.defaults.gpu_hourly


def ratio_split(hourly: float, *, gpus: float, cores: float, ram_gib: float, defaults: Defaults,
                gpu_hourly: float | None = None) -> tuple[float, float, float]:
    """OpenCost ``GetNodeCost``: split a whole-node price into (gpu, cpu core, GiB) hourly prices.

    The ratios come from the default unit prices; a known GPU price is subtracted first.
    """
    cpu_to_ram = defaults.cpu_core_hourly / defaults.ram_gib_hourly if defaults.ram_gib_hourly else 10.0
    gpu_to_ram = defaults.gpu_hourly / defaults.ram_gib_hourly if defaults.ram_gib_hourly else 100.0
    if math.isnan(cpu_to_ram):
        cpu_to_ram = 10.0
    if math.isnan(gpu_to_ram):
        gpu_to_ram = 100.0
    if gpu_hourly is not None and gpus > 0:
        rest = max(hourly - gpus * gpu_hourly, 0.0)
        multiple = cores * cpu_to_ram + ram_gib
        ram = rest / multiple if multiple > 0 else 0.0
        return gpu_hourly, ram * cpu_to_ram, ram
    multiple = gpus * gpu_to_ram + cores * cpu_to_ram + ram_gib
    ram = hourly / multiple if multiple > 0 else 0.0
    return (ram * gpu_to_ram if gpus > 0 else (gpu_hourly or 0.0)), ram * cpu_to_ram, ram


_CT_ALIASES = {"on-demand": "on-demand", "on_demand": "on-demand", "ondemand": "on-demand", "regular": "on-demand",
               "spot": "spot", "preemptible": "spot", "reserved": "reserved", "": "on-demand"}


def normalise_capacity_type(value: str | None, *, where: str) -> str:
    """'SPOT' / 'ON_DEMAND' / None -> spot / on-demand; anything unknown is a PriceError naming ``where``."""
    if value is None:
        return "on-demand"
    ct = _CT_ALIASES.get(value.strip().lower())
    if ct is None:
        raise PriceError(f"{where}: unknown capacity type {value!r}; use one of {', '.join(CAPACITY_TYPES)}")
    return ct


# -- loading -----------------------------------------------------------------------------------------------

def builtin_path(name: str) -> Path:
    path = Path(str(resources.files("costmodel") / "pricebooks" / f"{name}.toml"))
    if not path.exists():
        raise PriceError(f"no built-in price book {name!r}; use neocloud or hyperscaler")
    return path


def load(base: str = "neocloud", files: list[Path] | tuple[Path, ...] = ()) -> PriceBook:
    """The built-in ``base`` book overridden by ``files`` (TOML or OpenCost CSV) in order."""
    book = load_file(builtin_path(base))
    for f in files:
        book = book.merged(load_file(Path(f)))
    return book


def load_file(path: Path) -> PriceBook:
    if not path.exists():
        raise PriceError(f"price book {path} does not exist")
    text = path.read_text()
    if path.suffix.lower() == ".csv":
        return parse_opencost_csv(text, str(path))
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PriceError(f"{path}: not valid TOML ({exc})") from exc
    return parse_toml(data, str(path))


def _num(row: dict[str, Any], key: str, where: str, required: bool = False) -> float | None:
    v = row.get(key)
    if v is None:
        if required:
            raise PriceError(f"{where}: missing {key!r}")
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or math.isnan(v):
        raise PriceError(f"{where}: {key} = {v!r} must be a non-negative number")
    return float(v)


def _provenance(row: dict[str, Any], where: str) -> tuple[str, str]:
    src, as_of = row.get("source"), row.get("as_of")
    if not src or not as_of:
        raise PriceError(f"{where}: every row needs `source` and `as_of` (where the price comes from and when)")
    return str(src), str(as_of)


def parse_toml(data: dict[str, Any], origin: str = "<toml>") -> PriceBook:
    book = PriceBook(name=str(data.get("name", origin)), currency=str(data.get("currency", "USD")), sources=[origin])
    known = {"name", "currency", "defaults", "node", "gpu", "storage", "egress", "discount", "volume"}
    extra = set(data) - known
    if extra:
        raise PriceError(f"{origin}: unknown section(s) {sorted(extra)}; allowed: {sorted(known)}")
    if "defaults" in data:
        d = data["defaults"]
        where = f"{origin} [defaults]"
        src, as_of = _provenance(d, where)
        base = Defaults()
        book.defaults = Defaults(**{k: (_num(d, k, where) if d.get(k) is not None else getattr(base, k))
                                    for k in ("cpu_core_hourly", "ram_gib_hourly", "gpu_hourly",
                                              "spot_cpu_core_hourly", "spot_ram_gib_hourly", "spot_gpu_hourly",
                                              "volume_gib_month")},
                                 source=src, as_of=as_of)
    for i, r in enumerate(data.get("node", [])):
        where = f"{origin} [[node]] #{i + 1} ({r.get('instance_type')!r}, {r.get('capacity_type')!r})"
        if not r.get("instance_type"):
            raise PriceError(f"{where}: missing instance_type")
        ct = r.get("capacity_type")
        if ct not in CAPACITY_TYPES:
            raise PriceError(f"{where}: unknown capacity_type {ct!r}; use one of {', '.join(CAPACITY_TYPES)}")
        src, as_of = _provenance(r, where)
        row = NodeRow(r["instance_type"], ct, _num(r, "gpu_hourly", where), _num(r, "cpu_core_hourly", where),
                      _num(r, "ram_gib_hourly", where), _num(r, "hourly", where), src, as_of)
        units = row.cpu_core_hourly is not None and row.ram_gib_hourly is not None
        if not units and row.hourly is None:
            raise PriceError(f"{where}: give cpu_core_hourly + ram_gib_hourly (and gpu_hourly) or a whole-node "
                             "`hourly` price")
        book.nodes[(row.instance_type, ct)] = row
    for i, r in enumerate(data.get("gpu", [])):
        where = f"{origin} [[gpu]] #{i + 1} ({r.get('product')!r})"
        ct = r.get("capacity_type", "on-demand")
        if ct not in CAPACITY_TYPES:
            raise PriceError(f"{where}: unknown capacity_type {ct!r}; use one of {', '.join(CAPACITY_TYPES)}")
        if not r.get("product"):
            raise PriceError(f"{where}: missing product")
        book.gpus[(r["product"], ct)] = (_num(r, "hourly", where, True), *_provenance(r, where))  # type: ignore
    for i, r in enumerate(data.get("storage", [])):
        where = f"{origin} [[storage]] #{i + 1} ({r.get('class')!r})"
        if not r.get("class"):
            raise PriceError(f"{where}: missing class")
        book.storage[str(r["class"]).upper()] = (_num(r, "gib_month", where, True), *_provenance(r, where))  # type: ignore
    for i, r in enumerate(data.get("volume", [])):
        where = f"{origin} [[volume]] #{i + 1} ({r.get('class')!r})"
        if not r.get("class"):
            raise PriceError(f"{where}: missing class (the StorageClass name)")
        book.volumes[str(r["class"])] = (_num(r, "gib_month", where, True), *_provenance(r, where))  # type: ignore
    for i, r in enumerate(data.get("egress", [])):
        where = f"{origin} [[egress]] #{i + 1} ({r.get('class')!r})"
        if r.get("class") not in EGRESS_CLASSES:
            raise PriceError(f"{where}: unknown egress class {r.get('class')!r}; use one of {', '.join(EGRESS_CLASSES)}")
        book.egress[r["class"]] = (_num(r, "gib", where, True), *_provenance(r, where))  # type: ignore
    for i, r in enumerate(data.get("discount", [])):
        where = f"{origin} [[discount]] #{i + 1}"
        ct = r.get("capacity_type")
        if ct not in CAPACITY_TYPES:
            raise PriceError(f"{where}: unknown capacity_type {ct!r}; use one of {', '.join(CAPACITY_TYPES)}")
        frac = _num(r, "cpu_ram", where, True)
        if frac is None or frac >= 1:
            raise PriceError(f"{where}: cpu_ram = {frac!r} must be a fraction in [0, 1)")
        _provenance(r, where)
        book.discounts[ct] = frac
    return book


HOURS_PER_MONTH = 730.0  # OpenCost and neocost: a month is 730 hours
CSV_COLUMNS = ["EndTimestamp", "InstanceID", "Region", "AssetClass", "InstanceIDField", "InstanceType",
               "MarketPriceHourly", "Version"]


def parse_opencost_csv(text: str, origin: str = "<csv>") -> PriceBook:
    """OpenCost ``docs/csv-pricing.md`` rows. ``node`` rows price a node by name (``InstanceID``) or, with an
    empty InstanceID, every node of ``InstanceType``; ``gpu``/``gpulabel`` rows price one GPU of the product
    ``InstanceType``; ``pv`` rows price persistent volumes per GiB-hour (OpenCost's PV cost unit; stored as
    GiB-month = x 730): one PersistentVolume by name (``InstanceIDField`` ``metadata.name``, the default) or a
    whole StorageClass (``InstanceIDField`` ``spec.storageClassName``, or only ``InstanceType`` given)."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("AssetClass", "InstanceID", "InstanceType", "MarketPriceHourly")
               if c not in (reader.fieldnames or [])]
    if missing:
        raise PriceError(f"{origin}: not an OpenCost pricing CSV, missing column(s) {missing}; expected "
                         f"{','.join(CSV_COLUMNS)}")
    book = PriceBook(name=origin, currency="", sources=[origin])
    for i, r in enumerate(reader, start=2):
        where = f"{origin} line {i}"
        try:
            price = float(r["MarketPriceHourly"])
        except (TypeError, ValueError):
            raise PriceError(f"{where}: MarketPriceHourly {r.get('MarketPriceHourly')!r} is not a number") from None
        if price < 0 or math.isnan(price):
            raise PriceError(f"{where}: MarketPriceHourly {price} must be non-negative")
        klass = (r.get("AssetClass") or "").strip().lower()
        as_of = (r.get("EndTimestamp") or "").strip() or "unknown"
        src = f"{origin} (OpenCost CSV, line {i})"
        inst_id, inst_type = (r.get("InstanceID") or "").strip(), (r.get("InstanceType") or "").strip()
        if klass == "node":
            row = NodeRow(inst_type, ANY, hourly=price, source=src, as_of=as_of)
            if inst_id:
                book.node_names[inst_id] = row
            elif inst_type:
                book.nodes[(inst_type, ANY)] = row
            else:
                raise PriceError(f"{where}: a node row needs InstanceID or InstanceType")
        elif klass in ("gpu", "gpulabel"):
            key = inst_type or inst_id
            if not key:
                raise PriceError(f"{where}: a gpu row needs InstanceType (the GPU product label value)")
            book.gpus[(key, ANY)] = (price, src, as_of)
        elif klass == "pv":
            row3 = (price * HOURS_PER_MONTH, src, as_of)
            by_class = "storageclass" in (r.get("InstanceIDField") or "").lower().replace("_", "")
            if inst_id and not by_class:
                book.volume_names[inst_id] = row3
            elif inst_id or inst_type:
                book.volumes[inst_id or inst_type] = row3
            else:
                raise PriceError(f"{where}: a pv row needs InstanceID (the PersistentVolume or StorageClass name)")
        else:
            raise PriceError(f"{where}: unknown AssetClass {r.get('AssetClass')!r}; use node, gpu, gpulabel or pv")
    return book
