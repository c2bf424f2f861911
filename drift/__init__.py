"""neocost drift package."""
