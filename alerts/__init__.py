"""neocost alerts package."""
