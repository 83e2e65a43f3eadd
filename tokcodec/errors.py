"""Errors a user can cause. The CLI prints their message on one line and exits 1."""


class TokcodecError(Exception):
    """Base class: anything the user can fix (bad input, bad file, bad option)."""


class InputError(TokcodecError):
    """The input cannot be read as video or image."""


class ContainerError(TokcodecError):
    """A .tkc file is truncated, corrupt, or of an unknown version.

    `code` is the error's number in bitstream_spec/SPEC.md section 7.1
    (`tokcodec.codec.container.Err`), or None for problems outside that table.
    """

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


class ModelError(TokcodecError):
    """Model weights are missing, unknown, or do not match what a file needs.

    `code`: as for ContainerError (SPEC 7.1, errors 30-32), when a file asked for the model.
    """

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


class OutputError(TokcodecError):
    """The output exists (and --force was not given) or cannot be written."""
