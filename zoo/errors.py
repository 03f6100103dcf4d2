"""The one error type users see (a one-line message and exit code 2), and the one warning type."""


class ZooError(Exception):
    """Bad input or an impossible request, reported without a traceback."""

    exit_code = 2


class ZooWarning(UserWarning):
    """A problem the zoo works around (e.g. a plugin's model that a name clash leaves out),
    reported in one line (``zoo`` prints it as ``warning: <message>``)."""
