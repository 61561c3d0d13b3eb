"""The project's own error types. Anything else escaping the pipeline is a bug."""


class PgforklintError(Exception):
    """A usage, configuration or internal problem: exit 2 with one clear line."""


class ConfigError(PgforklintError):
    pass


class ReadError(Exception):
    """A file could not be read or parsed. Becomes a PGF100 diagnostic, never a crash."""

    def __init__(self, reason: str, line: int = 1, column: int = 1):
        super().__init__(reason)
        self.reason = reason
        self.line = max(1, line or 1)
        self.column = max(1, column or 1)
