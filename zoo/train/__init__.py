"""Floor 5: learning weights (the trainer, its data sets, auxiliary parameters). Imports
the core and below, never ``zoo.eval`` or ``zoo.cli``."""
