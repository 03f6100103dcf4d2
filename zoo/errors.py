"""The one error type users see: a one-line message and exit code 2."""


class ZooError(Exception):
    """Bad input or an impossible request, reported without a traceback."""

    exit_code = 2
