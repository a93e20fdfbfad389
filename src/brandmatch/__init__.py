"""brandmatch: find the right micro-influencers for a brand (MORNING, MIR and baselines)."""

__version__ = "0.1.0"
