"""Deprecated path of :mod:`zoo.nn.gains`, where the module now lives; kept for one
release so that plugins written against the flat layout keep working. Import
``zoo.nn.gains``."""

import sys
import warnings

from zoo.nn import gains as _module

_MOVED_TO = "zoo.nn.gains"
warnings.warn(f"{__name__} is deprecated: import {_MOVED_TO}", DeprecationWarning, stacklevel=2)
sys.modules[__name__] = _module
