"""Invoke collections: thin wrappers over the library, one module per namespace."""
