"""Errors a user can cause (the CLI prints their message on one line and exits 1), and the signals
that end a command cleanly (`Terminated`)."""

import signal


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


OUT_OF_MEMORY = "out of memory (try a smaller --gop or a smaller input)"
# torch's CPU allocator raises RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to
# allocate N bytes..."), CUDA's torch.OutOfMemoryError (a RuntimeError): not MemoryError
_OOM_TEXT = ("can't allocate memory", "out of memory", "not enough memory")


def is_out_of_memory(error: BaseException) -> bool:
    """A failed allocation, as Python or torch reports it (narrowly: other RuntimeErrors are bugs)."""
    return isinstance(error, MemoryError) or (
        isinstance(error, RuntimeError) and any(t in str(error).lower() for t in _OOM_TEXT)
    )


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived; a BaseException so that only cleanup code sees it, like KeyboardInterrupt."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_terminated(signum, _frame):
    raise Terminated(signum)


def exit_on_signals() -> None:
    """Turn SIGTERM and SIGHUP into `Terminated` in this (main) thread; an ignored one stays
    ignored (`nohup tokcodec ...` must survive the hang-up it asked to ignore)."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, _raise_terminated)
