"""Deprecated path of :mod:`zoo.core.models`, where the module now lives; kept for one
release so that plugins written against the flat layout keep working. Import
``zoo.core.models``."""

import sys
import warnings

from zoo.core import models as _module

_MOVED_TO = "zoo.core.models"
warnings.warn(f"{__name__} is deprecated: import {_MOVED_TO}", DeprecationWarning, stacklevel=2)
sys.modules[__name__] = _module
