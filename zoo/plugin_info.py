"""Deprecated path of :mod:`zoo.core.plugin_info`, where the module now lives; kept for one
release so that plugins written against the flat layout keep working. Import
``zoo.core.plugin_info``."""

import sys
import warnings

from zoo.core import plugin_info as _module

_MOVED_TO = "zoo.core.plugin_info"
warnings.warn(f"{__name__} is deprecated: import {_MOVED_TO}", DeprecationWarning, stacklevel=2)
sys.modules[__name__] = _module
