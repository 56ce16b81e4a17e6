"""LocalStack plugins for the Alchemiser event backbone (see ../README.md)."""
