"""Built-in price books (package data)."""
