"""brandmatch.training.losses."""
