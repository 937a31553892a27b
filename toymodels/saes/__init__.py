"""Sparse autoencoders trained against features whose directions are known (work in progress:
the metrics, the planted source and the SAE variants; not yet a registered experiment)."""
