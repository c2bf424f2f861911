"""S3 collector: S3 Inventory reports (CSV.gz, Parquet, ORC) or ListObjectsV2/ListObjectVersions, aggregated
in DuckDB into raw.s3_snapshot / raw.s3_storage, plus bucket tags."""

from collector.s3.collect import collect_s3

__all__ = ["collect_s3"]
