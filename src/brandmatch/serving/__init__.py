"""brandmatch.serving."""
