"""``neocost simulate`` and ``neocost simulate serve-k8s``."""

from __future__ import annotations

import time
from pathlib import Path

import click

from neocost.timeutil import parse_time


@click.group(invoke_without_command=True)
@click.option("--days", type=click.IntRange(min=1), default=7, show_default=True, help="Length of the window.")
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed (same seed + end = same bytes).")
@click.option("--scale", type=click.Choice(["small", "medium", "large"]), default="small", show_default=True,
              help="small: 10 nodes / 48 GPUs / ~1.5k series; medium: 5x; large: ~1,000 GPUs and ~3,000 pods.")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=Path("sim"), show_default=True,
              help="Output directory (metrics.om, k8s/, s3/, embeddings/, pricebook.toml, truth.json).")
@click.option("--end", "end_text", default=None,
              help="Window end, on the 5-minute grid (RFC 3339, date or unix seconds). Default: today 00:00 UTC.")
@click.option("--scrape-interval", type=int, default=None,
              help="Seconds between samples; must divide 300 (default 60, or 300 for --scale large).")
@click.pass_context
def simulate(ctx: click.Context, days: int, seed: int, scale: str, out: Path, end_text: str | None,
             scrape_interval: int | None) -> None:
    """Simulate a neocloud Kubernetes cluster with exactly known costs.

    Writes OpenMetrics for `promtool tsdb create-blocks-from openmetrics`, Kubernetes List JSON, S3 Inventory
    reports, embedding Parquet files, the price book used, and truth.json (the costs the cost model must
    reproduce). Serve the Kubernetes objects with `neocost simulate serve-k8s DIR/k8s`.
    """
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console

    from neocost.simulate import simulate as run

    console = Console(stderr=True)
    end = parse_time(end_text) if end_text else None
    tic = time.perf_counter()
    with console.status("simulating") as status:
        summary = run(out, days=days, seed=seed, scale=scale, end=end, scrape_interval=scrape_interval,
                      progress=lambda msg: status.update(msg))
    took = time.perf_counter() - tic
    t = summary.totals
    console.print(f"[bold]{summary.scale}[/] cluster, {summary.nodes} nodes, {summary.gpus} GPUs, {summary.pods} "
                  f"pods, {summary.start:%Y-%m-%d %H:%M} .. {summary.end:%Y-%m-%d %H:%M} UTC")
    console.print(f"{summary.series:,} series, {summary.samples:,} samples -> {out / 'metrics.om'} "
                  f"({took:.1f} s)")
    console.print(f"truth: total ${t['total_cost']:,.2f} (nodes ${t['node_cost']:,.2f}, idle ${t['idle_cost']:,.2f},"
                  f" egress ${t['egress_cost']:,.2f}, storage ${t['storage_cost']:,.2f})")


@simulate.command("serve-k8s")
@click.argument("k8s_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--port", type=int, default=0, show_default=True, help="Port on 127.0.0.1 (0 = a free port).")
@click.option("--kubeconfig", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write a kubeconfig pointing at the server to this file.")
def serve_k8s(k8s_dir: Path, port: int, kubeconfig: Path | None) -> None:
    """Serve DIR/k8s (nodes/pods/namespaces.json) as a read-only Kubernetes list API until Ctrl-C.

    Supports /version, /api, /api/v1, list with ?limit= & continue= paging (410 Gone for expired tokens)
    and labelSelector.
    """
    from neocost.simulate.k8s_api import K8sListServer

    with K8sListServer(k8s_dir, port=port) as server:
        click.echo(f"Kubernetes list API on {server.url}")
        if kubeconfig:
            click.echo(f"kubeconfig: {server.write_kubeconfig(kubeconfig)}")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            click.echo("stopped")
