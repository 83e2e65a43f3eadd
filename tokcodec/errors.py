"""Errors a user can cause. The CLI prints their message on one line and exits 1."""


class TokcodecError(Exception):
    """Base class: anything the user can fix (bad input, bad file, bad option)."""


class InputError(TokcodecError):
    """The input cannot be read as video or image."""


class ContainerError(TokcodecError):
    """A .tkc file is truncated, corrupt, or of an unknown version."""


class ModelError(TokcodecError):
    """Model weights are missing, unknown, or do not match what a file needs."""


class OutputError(TokcodecError):
    """The output exists (and --force was not given) or cannot be written."""
