"""brandmatch.data."""
