"""Cost model SQL (package data)."""
