"""Shared pieces of the commands: error handling, device choice, common options.

Exit codes: 0 success, 1 a problem with the input, output or model (one line
on stderr), 2 bad usage (one line, checked before torch is imported), 3 a
damaged file decoded in part, or a source that ended early (a cut video) encoded
in part, 130 interrupted (Ctrl-C), 143 terminated
(SIGTERM or SIGHUP). Set TOKCODEC_DEBUG=1 to see tracebacks of unexpected errors.

Option values are checked by the callbacks below, at parse time: a usage error
costs milliseconds, not the seconds torch takes to load.
"""

from __future__ import annotations

import functools
import math
import os
import sys
from fractions import Fraction

import click

from tokcodec.api import safe_text
from tokcodec.errors import OUT_OF_MEMORY, Terminated, TokcodecError, is_out_of_memory


DEBUG_HINT = "run again with TOKCODEC_DEBUG=1 for a traceback to report"


def _fail(message: str, code: int = 1):
    # Messages quote file names and text from files (a model name): escaped, never raw to a terminal.
    click.echo(f"tokcodec: error: {safe_text(message)}", err=True)
    sys.exit(code)


def friendly_errors(command):
    """Turn library errors into one line and an exit code, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except click.ClickException:  # usage errors raised by a command: main() prints them
            raise
        except TokcodecError as e:
            _fail(str(e))
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except Terminated as e:  # SIGTERM/SIGHUP: the writers have removed their temporaries on the way out
            _fail(f"terminated ({e})", 143)
        except BrokenPipeError:  # `tokcodec info x.tkc | head`: the reader left; say nothing, like cat
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(141)
        except Exception as e:
            if is_out_of_memory(e):
                _fail(OUT_OF_MEMORY)
            if os.environ.get("TOKCODEC_DEBUG"):
                raise
            # a bug: one line, and no internal text (it means nothing to a user)
            _fail(f"internal error ({type(e).__name__}): a bug in tokcodec; {DEBUG_HINT}")

    return wrapper


MAX_GOP = 1021  # the largest 1 + 4k within the container's GOP length limit (1024, SPEC 3.5)


def check_gop(_ctx, _param, value):
    """Every tokenizer family has temporal stride 4: a GOP is 1 + 4k frames."""
    if value is not None and (value < 1 or (value - 1) % 4):
        raise click.BadParameter(f"{value} is not of the form 1 + 4k (e.g. 5, 9, 17, 33)")
    if value is not None and value > MAX_GOP:
        raise click.BadParameter(f"{value} frames: a GOP holds at most {MAX_GOP}")
    return value


def check_positive_float(_ctx, _param, value):
    if value is not None and not (value > 0 and math.isfinite(value)):
        raise click.BadParameter(f"{value} is not a positive number")
    return value


def check_fps(_ctx, _param, value):
    """A frame rate as a positive finite fraction ('25', '30000/1001', '29.97'), kept as text."""
    if value is None:
        return value
    try:
        rate = Fraction(value)
    except (ValueError, ZeroDivisionError):
        raise click.BadParameter(f"'{value}' is not a frame rate (e.g. 25 or 30000/1001)") from None
    if not 0 < rate <= 1000:
        raise click.BadParameter(f"'{value}' is not a frame rate between 0 and 1000")
    return value


def check_tkc_output(_ctx, _param, value):
    if value is not None and not value.lower().endswith(".tkc"):
        raise click.BadParameter(f"{value}: the output of encode is a .tkc file")
    return value


device_option = click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="Where the tokenizer runs.",
)
force_option = click.option("--force", "-y", is_flag=True, help="Overwrite the output if it exists.")
quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bars or summary.")
entropy_option = click.option(
    "--entropy",
    type=click.Choice(["mlm", "raw"]),
    default=None,
    help="mlm: range-code the tokens under the model's token prior (entropy mode 1, the default where the zoo "
    "has a prior; asked for by name, a model without one is an error); raw: 18-bit packing (mode 0).",
)
