"""Persistent volume rows (``raw.pvc``, ``raw.pod_pvc``, migration 0005) from the catalog's ``volume`` queries.

Pure, like :mod:`normalize`: a batch's parts by query name in, table columns out.
A claim has a row for every interval in which kube-state-metrics reported it (request or info); the StorageClass
and volume come from ``kube_persistentvolumeclaim_info`` ('' when missing), used bytes from the kubelet.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from collector.prometheus.parts import Grid, Part, as_timestamps, part_of

Parts = Mapping[str, Part]
_CLAIM = ["namespace", "persistentvolumeclaim"]
_CLAIMED = (pl.col("namespace") != "") & (pl.col("persistentvolumeclaim") != "")


def pvc(parts: Parts, step_s: int) -> pl.DataFrame:
    """Columns of ``raw.pvc``: ts, namespace, persistentvolumeclaim, storageclass, volume, request_bytes,
    used_bytes."""
    g = Grid({"info": part_of(parts, "pvc_info"), "req": part_of(parts, "pvc_request"),
              "used": part_of(parts, "pvc_used")}, _CLAIM, step_s * 1000, keep=_CLAIMED)
    out = g.frame(g.present("req") | g.present("info"), {
        "storageclass": g.label("info", g.pick("info", "storageclass"), "storageclass").fill_null(""),
        "volume": g.label("info", g.pick("info", "volumename"), "volumename").fill_null(""),
        "request_bytes": g.values("req", "max"),
        "used_bytes": g.values("used", "mean")})  # one series per node reporting it
    return as_timestamps(out.select("ts", *_CLAIM, "storageclass", "volume", "request_bytes", "used_bytes"))


def pod_pvc(parts: Parts, step_s: int) -> pl.DataFrame:
    """Columns of ``raw.pod_pvc``: ts, namespace, pod, persistentvolumeclaim (one row per mount and interval)."""
    g = Grid({"mount": part_of(parts, "pod_pvc")}, ["namespace", "pod", "persistentvolumeclaim"], step_s * 1000,
             keep=_CLAIMED & (pl.col("pod") != ""))
    return as_timestamps(g.frame(g.present("mount"), {}).select("ts", "namespace", "pod", "persistentvolumeclaim"))
