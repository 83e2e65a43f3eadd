"""Shared pieces of the commands: error handling, device choice, common options.

Exit codes: 0 success, 1 a problem with the input, output or model (one line
on stderr), 2 bad usage (click), 130 interrupted. Set TOKCODEC_DEBUG=1 to see
tracebacks of unexpected errors.
"""
from __future__ import annotations

import functools
import os
import sys

import click

from tokcodec.errors import TokcodecError


def _fail(message: str, code: int = 1):
    click.echo(f"tokcodec: error: {message}", err=True)
    sys.exit(code)


def friendly_errors(command):
    """Turn library errors into one line and an exit code, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except TokcodecError as e:
            _fail(str(e))
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except BrokenPipeError:  # `tokcodec info x.tkc | head`: the reader left; say nothing, like cat
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(141)
        except MemoryError:
            _fail("out of memory (try a smaller --gop or a smaller input)")
        except Exception as e:  # a bug: still one line unless debugging
            if os.environ.get("TOKCODEC_DEBUG"):
                raise
            _fail(f"unexpected {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''} "
                  "(set TOKCODEC_DEBUG=1 for a traceback)")

    return wrapper


def resolve_device(device: str) -> str:
    import torch
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise TokcodecError("--device cuda: no CUDA device available")
    return device


device_option = click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
                             show_default=True, help="Where the tokenizer runs.")
force_option = click.option("--force", "-y", is_flag=True, help="Overwrite the output if it exists.")
quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bars or summary.")
