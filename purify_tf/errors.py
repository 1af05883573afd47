"""Exception types whose messages name the file, flag or field at fault."""


class PurifyError(Exception):
    """Base class for errors the user can act on."""


class DataError(PurifyError, ValueError):
    """A dataset, file or array is missing, unreadable or not in the expected format."""


class ConfigError(PurifyError, ValueError):
    """A flag, config value or weights file is invalid."""
