"""neocost costmodel package."""
