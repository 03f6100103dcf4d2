"""Floor 4, the core: a codec from plugins; clips to streams and back.

The hooks and the plugin manager, model specs, the assembled P-frame pipeline,
the registry and weights, the guards and budgets, low-delay sequences, the
coding path (encode, write, read, decode, measure) and the metrics. It imports
from ``zoo.nn``, ``zoo.io`` and the foot (``zoo.slots``, ``zoo.errors``), never
from ``zoo.train``, ``zoo.eval``, ``zoo.cli`` or the plugins.
"""
