"""Deprecated path of :mod:`zoo.train.auxiliary`, where the module now lives; kept for one
release so that plugins written against the flat layout keep working. Import
``zoo.train.auxiliary``."""

import sys
import warnings

from zoo.train import auxiliary as _module

_MOVED_TO = "zoo.train.auxiliary"
warnings.warn(f"{__name__} is deprecated: import {_MOVED_TO}", DeprecationWarning, stacklevel=2)
sys.modules[__name__] = _module
