"""neocost dashboards package."""
