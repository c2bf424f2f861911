"""Allocation steps, run in name order (package data)."""
