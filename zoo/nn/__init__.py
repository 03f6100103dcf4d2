"""Floor 3: building blocks for slot modules (layers, per-quality gains). Imports only the
foot (``zoo.slots``, ``zoo.errors``)."""
