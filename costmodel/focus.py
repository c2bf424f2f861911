"""FOCUS 1.2 export of the cost marts (CSV or Parquet), custom columns prefixed ``x_`` after the FOCUS ones."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from neocost.errors import WarehouseError
from neocost.warehouse import read_sql

# FOCUS 1.2 mandatory columns (cost-allocation.md §9).
REQUIRED = ("BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodStart",
            "BillingPeriodEnd", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargePeriodStart",
            "ChargePeriodEnd", "ContractedCost", "EffectiveCost", "InvoiceIssuerName", "ListCost", "PricingQuantity",
            "PricingUnit", "ProviderName", "PublisherName", "ServiceCategory", "ServiceName")


def focus_table(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, currency: str = "USD") -> pa.Table:
    return con.sql(read_sql("costmodel", "sql/focus.sql"),
                   params={"start": start, "end": end, "currency": currency}).to_arrow_table()


def validate(columns: list[str]) -> list[str]:
    """Problems with a column list: missing mandatory columns, custom columns without the x_ prefix or placed
    before a FOCUS column."""
    problems = [f"missing FOCUS column {c}" for c in REQUIRED if c not in columns]
    seen_custom = False
    for c in columns:
        if c.startswith("x_"):
            seen_custom = True
        elif seen_custom:
            problems.append(f"FOCUS column {c} comes after custom (x_) columns")
        elif not c[:1].isupper():
            problems.append(f"custom column {c} must be prefixed x_")
    return problems


def export_focus(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, out: Path,
                 currency: str = "USD") -> int:
    """Write ``[start, end)`` to ``out`` (``.csv`` or ``.parquet``); returns the number of rows."""
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise WarehouseError(f"--out {out}: use a .csv or .parquet file name")
    table = focus_table(con, start, end, currency)
    problems = validate(table.column_names)
    if problems:
        raise WarehouseError("FOCUS export is malformed: " + "; ".join(problems))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    if suffix == ".parquet":
        pq.write_table(table, tmp)
    else:
        pacsv.write_csv(table, tmp)
    tmp.replace(out)
    return table.num_rows
