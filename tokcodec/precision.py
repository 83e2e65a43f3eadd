"""The tokenizer's arithmetic: float32, or bfloat16 autocast where the hardware computes it natively.

The two halves of the codec have different rules. The encoder's choice of tokens is its own (SPEC
section 2: only the decoder side is normative), so encoding may run in any arithmetic that picks
good tokens. The decoder's frames may differ from the reference by at most 1 in an 8-bit sample
(SPEC A.3), which bf16 does not keep; the colour offset's estimate (a sampled decode) measures the
decoder's mean, so it runs at the decoding side's precision. So:

- `fp32` (the default): both sides in float32.
- `auto`: the encoding side in bf16 where the CPU has AVX512-BF16 or AMX (or a CUDA device supports
  it), float32 elsewhere, where oneDNN would emulate bf16 about 4x slower than float32; decoding in
  float32. Conformant files, a faster encode.
- `bf16`: both sides in bf16: a decode about twice as fast, outside the conformance tolerance
  (frames within a few levels of the reference).

Measured on a 2-core AVX512-BF16 machine, idle, a 640x360 hand-held clip (`tokcodec/zoo/cards/tc-2.1.md`,
"Precision"): mode 0's encode 6.1 -> 10.2 fps under auto, decode 6.8 -> 11.8 under bf16; auto's PSNR on the
benchmark clips within 0.01 dB of float32's, but its tokens cost 0.13-0.14% more bits than float32's
under the same prior, which is why it is not the default. That held even for the default prior
mlm-tc-2.1-small-2, fine-tuned on auto's tokens (`tokcodec/zoo/cards/mlm-tc-2.1-small.md`): bf16's
rounding flips 1-3% of the tokens at quantization boundaries, noise no prior predicts. The token
prior (annex B) is integer arithmetic and never touched.

The setting is the process's, like the zoo (`tokcodec.api.use_precision`; the command line reads
`TOKCODEC_PRECISION`); it applies to the models loaded after it is set.
"""

from __future__ import annotations

import contextlib
import functools

from .errors import InputError

PRECISIONS = ("fp32", "auto", "bf16")
_selected = "fp32"  # use_precision's


def use_precision(precision: str | None) -> None:
    """Run the tokenizers loaded from now on at `precision` (None: fp32)."""
    global _selected
    chosen = (precision or "fp32").strip().lower()
    if chosen not in PRECISIONS:
        raise InputError(f"precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    _selected = chosen


def selected_precision() -> str:
    return _selected


@functools.cache
def bf16_supported(device: str) -> bool:
    """Whether `device` computes bfloat16 natively (CUDA's own answer; on a CPU, AVX512-BF16 or AMX)."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.is_bf16_supported()
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def autocast_dtypes(precision: str, device: str) -> dict:
    """{"encode": dtype, "decode": dtype}: what each side's networks autocast to (None: float32)."""
    import torch

    native = precision == "bf16" or (precision == "auto" and bf16_supported(device))
    return {"encode": torch.bfloat16 if native else None, "decode": torch.bfloat16 if precision == "bf16" else None}


def network(model, device, side: str):
    """The context a tokenizer runs one side's network in ("encode": the encoder; "decode": the
    decoder): autocast to the dtype zoo.load_model set for that side, else nothing. Quantization and
    the frames handed back stay float32."""
    dtype = getattr(model, "autocast_dtypes", {}).get(side)
    if dtype is None:
        return contextlib.nullcontext()
    import torch

    return torch.autocast(device_type=device.type, dtype=dtype)
