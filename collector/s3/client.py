"""boto3 S3 client from settings: ``endpoint_url`` (Nebius Object Storage, MinIO, Ceph; empty = AWS), region,
addressing style. Credentials come only from boto3's standard chain (environment, shared files, instance or
workload identity) and are never logged."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from neocost.settings import S3Settings


def build_s3_client(settings: S3Settings) -> Any:
    """An S3 client with adaptive retries; path-style by default because most S3-compatible stores need it."""
    config = Config(
        s3={"addressing_style": settings.addressing_style},
        retries={"max_attempts": 5, "mode": "adaptive"},
        connect_timeout=10,
        read_timeout=120,
    )
    return boto3.session.Session().client(
        "s3", endpoint_url=settings.endpoint_url or None, region_name=settings.region, config=config
    )


__all__ = ["build_s3_client"]
