"""``zoo speed``: :mod:`~zoo.eval.speed.measure` measures (each configuration in a
process of its own), :mod:`~zoo.eval.speed.report` tables, plots and judges the
results against targets read from a data file (``targets.toml``)."""
