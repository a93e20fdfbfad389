"""brandmatch.training."""
