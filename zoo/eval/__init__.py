"""Floor 5: measuring codecs (evaluation, anchors, protocols and BD figures, ablations,
plots, speed, per-slot cost). Imports the core and below, never ``zoo.train`` or ``zoo.cli``."""
