"""Container images cdclab builds itself (no registry needed)."""
