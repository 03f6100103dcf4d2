"""Deprecated path of :mod:`zoo.core.registry`, where the module now lives; kept for one
release so that plugins written against the flat layout keep working. Import
``zoo.core.registry``."""

import sys
import warnings

from zoo.core import registry as _module

_MOVED_TO = "zoo.core.registry"
warnings.warn(f"{__name__} is deprecated: import {_MOVED_TO}", DeprecationWarning, stacklevel=2)
sys.modules[__name__] = _module
