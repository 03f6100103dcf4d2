"""codec-zoo: a plugin-based zoo of learned P-frame video codecs."""

__version__ = "0.3.2"

#: Version of the plugin API (the hookspecs and slot contracts in zoo.core.hookspecs
#: and zoo.slots). Bumped on any incompatible change; plugins may check it.
API_VERSION = 1
