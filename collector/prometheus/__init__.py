"""Prometheus collector: catalog of PromQL queries, sharded fetch, normalisation into the raw tables."""
