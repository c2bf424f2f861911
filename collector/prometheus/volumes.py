"""Persistent volume rows (``raw.pvc``, ``raw.pod_pvc``, migration 0005) from the catalog's ``volume`` queries.

Pure, like :mod:`normalize`: named per-interval frames (``ts`` in ms, label columns, ``v``) in, table columns out.
A claim has a row for every interval in which kube-state-metrics reported it (request or info); the StorageClass
and volume come from ``kube_persistentvolumeclaim_info`` ('' when missing), used bytes from the kubelet.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

Frames = Mapping[str, pl.DataFrame]
_KEY = ["ts", "namespace", "persistentvolumeclaim"]


def _frame(frames: Frames, name: str, labels: tuple[str, ...]) -> pl.DataFrame:
    df = frames.get(name)
    if df is None:
        df = pl.DataFrame({**{lab: pl.Series(lab, [], dtype=pl.Utf8) for lab in labels},
                           "ts": pl.Series("ts", [], dtype=pl.Int64), "v": pl.Series("v", [], dtype=pl.Float64)})
    return df.filter((pl.col("namespace") != "") & (pl.col("persistentvolumeclaim") != ""))


def _ts(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(pl.from_epoch(pl.col("ts"), time_unit="ms").cast(pl.Datetime("us")))


def pvc(frames: Frames) -> pl.DataFrame:
    """Columns of ``raw.pvc``: ts, namespace, persistentvolumeclaim, storageclass, volume, request_bytes,
    used_bytes."""
    info = (_frame(frames, "pvc_info", ("namespace", "persistentvolumeclaim", "storageclass", "volumename"))
            .group_by(_KEY).agg(pl.col("storageclass").max(), pl.col("volumename").max().alias("volume")))
    req = (_frame(frames, "pvc_request", ("namespace", "persistentvolumeclaim"))
           .group_by(_KEY).agg(pl.col("v").max().alias("request_bytes")))
    used = (_frame(frames, "pvc_used", ("namespace", "persistentvolumeclaim"))
            .group_by(_KEY).agg(pl.col("v").mean().alias("used_bytes")))  # one series per node reporting it
    out = (req.join(info, on=_KEY, how="full", coalesce=True)
           .join(used, on=_KEY, how="left")
           .with_columns(pl.col("storageclass").fill_null(""), pl.col("volume").fill_null(""))
           .select(*_KEY, "storageclass", "volume", "request_bytes", "used_bytes"))
    return _ts(out)


def pod_pvc(frames: Frames) -> pl.DataFrame:
    """Columns of ``raw.pod_pvc``: ts, namespace, pod, persistentvolumeclaim (one row per mount and interval)."""
    df = _frame(frames, "pod_pvc", ("namespace", "pod", "persistentvolumeclaim")).filter(pl.col("pod") != "")
    return _ts(df.select("ts", "namespace", "pod", "persistentvolumeclaim").unique())
