"""brandmatch.features."""
