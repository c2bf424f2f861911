"""neocost app package."""
