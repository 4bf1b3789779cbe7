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


def write_failed(exc: OSError, path: object, what: str) -> MtmcError:
    """``exc`` (a failed write, which often names no file: "[Errno 28] No space left on device") as
    one line naming ``what`` and its ``path``, with the fix when the disk is full."""
    import errno

    reason = exc.strerror or str(exc)
    fix = (
        "; free space on that disk, then continue with mtmc run CONFIG --resume (nothing acknowledged is lost)"
        if exc.errno in (errno.ENOSPC, errno.EDQUOT)
        else ""
    )
    return MtmcError(f"cannot write {what} {path}: {reason}{fix}")
