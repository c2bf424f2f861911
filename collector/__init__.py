"""neocost collector package."""
