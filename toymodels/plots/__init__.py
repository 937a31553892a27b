"""Figures of each experiment (matplotlib, Agg backend): `common` holds the shared pieces,
one module per experiment builds its figures from a run's analysis results."""
