"""brandmatch.scale."""
