"""Errors a user can fix. The CLI prints them as one line, without a traceback, and exits 2."""


class MtmcError(Exception):
    """A problem with the user's input (file, config, argument), stated with the fix."""


class InputFormatError(MtmcError):
    """A file exists but cannot be read as the format it should be in."""

    def __init__(self, path: object, reason: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason
