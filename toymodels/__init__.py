"""toymodels: toy models for mechanistic interpretability on JAX."""
