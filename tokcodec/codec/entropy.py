"""Which entropy mode a file uses, and the prior behind mode 1 (SPEC 3.3, 6).

`EntropyCoder` is what the pipeline asks to turn a GOP's tokens into a chunk
payload and back: mode 0 leaves both to the container (bit packing), mode 1
runs `mlm_coding` under the zoo prior bound to the tokenizer's weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import InputError, ModelError
from .container import MAX_PAYLOAD
from .mlm_coding import DEFAULT_STEPS, decode_gop, encode_gop

ENTROPY_CHOICES = ("mlm", "raw")  # --entropy: mode 1, mode 0
DEFAULT_ENTROPY = "mlm"  # mode 1 where the tokenizer has a prior (mode 0 otherwise)


@dataclass
class EntropyCoder:
    mode: int = 0
    prior: object = None  # models.mlm_int.IntegerMLM for mode 1
    prior_name: str = ""
    prior_hash: bytes = bytes(32)
    steps: int = DEFAULT_STEPS

    @property
    def header_fields(self) -> dict:
        return {"entropy_mode": self.mode, "mlm_name": self.prior_name, "mlm_hash": self.prior_hash}

    def encode(self, tokens: np.ndarray, progress: Callable[[], None] | None = None) -> bytes | None:
        """The chunk payload of a GOP's tokens (None: mode 0, the container packs them); `progress`
        is called after each latent frame coded."""
        if self.mode != 1:
            return None
        payload = encode_gop(self.prior, tokens, self.steps, progress=progress)
        if len(payload) > MAX_PAYLOAD:  # tokens the prior finds very unlikely, in a very large GOP
            raise InputError(
                f"a GOP codes to {len(payload)} bytes under the token prior, more than a chunk "
                f"holds ({MAX_PAYLOAD}, SPEC 3.5): use a shorter --gop, or --entropy raw"
            )
        return payload

    @property
    def unpack(self) -> Callable[[bytes, tuple[int, int, int]], np.ndarray] | None:
        """For ContainerReader.read_tokens (None: mode 0)."""
        return self.unpacker()

    def unpacker(
        self, progress: Callable[[], None] | None = None
    ) -> Callable[[bytes, tuple[int, int, int]], np.ndarray] | None:
        """`unpack`, calling `progress` after each latent frame decoded."""
        if self.mode != 1:
            return None
        return lambda payload, shape: decode_gop(self.prior, payload, shape, progress)


RAW = EntropyCoder()


def coder_for_encoding(
    entropy: str, tokenizer_hash: bytes, steps: int = DEFAULT_STEPS, strict: bool = False, prior: str | None = None
) -> EntropyCoder:
    """`--entropy mlm|raw` for a tokenizer: mlm needs the zoo's prior for these weights
    (without one: mode 0, or ModelError when `strict`, i.e. the user asked for mlm by name).
    `prior`: that zoo prior instead of the tokenizer's default one (it must model these weights)."""
    if entropy not in ENTROPY_CHOICES:
        raise ValueError(f"entropy {entropy!r}")
    if entropy == "raw":
        if prior is not None:
            raise InputError(f"a token prior ({prior}) codes entropy mode 1 only, not --entropy raw")
        return RAW
    from ..zoo.priors import get_prior, load_prior, prior_for

    entry = get_prior(prior) if prior is not None else prior_for(tokenizer_hash)  # get_prior: ModelError 30
    if entry is None:
        if strict:
            raise ModelError("this tokenizer has no token prior in the zoo: use --entropy raw")
        return RAW
    refuse_other_tokenizer(entry, tokenizer_hash, "the model's")
    return EntropyCoder(1, load_prior(entry), entry.name, entry.weights_hash, steps)


def refuse_other_tokenizer(entry, tokenizer_hash: bytes, whose: str) -> None:
    """SPEC 3.3, step 4: a prior codes the tokens of the one tokenizer its configuration names (error 32)."""
    if entry.config.tokenizer_sha256 != tokenizer_hash.hex():
        raise ModelError(
            f"token prior '{entry.name}' models another tokenizer's tokens than {whose} "
            f"({tokenizer_hash.hex()[:12]}...; `tokcodec models` lists each model's priors)",
            32,
        )


def payload_factor(entropy: str, tokenizer_hash: bytes) -> float:
    """The expected size of a mode 1 payload against mode 0's, from the prior's card (its measured bits
    per token over 2 * sub_bits); 1.0 for raw or without a prior. An estimate: content decides."""
    if entropy != "mlm":
        return 1.0
    from ..zoo.priors import prior_for

    entry = prior_for(tokenizer_hash)
    bits = entry.card.get("metrics", {}).get("bits_per_token") if entry else None
    return min(1.0, bits / entry.config.token_bits) if bits else 1.0


def prior_memory_bytes(config, header) -> int:
    """Peak bytes the token prior takes to decode a mode 1 file's chunks (one latent frame at a time)."""
    from ..models.mlm_int import IntegerMLM

    _, height, width = header.latent_shape(1)
    return IntegerMLM.pass_memory_bytes(config, height, width)


def check_prior_memory(config, header, device: str = "cpu") -> None:
    """Refuse, before anything is allocated, a mode 1 file whose latent frames the prior cannot hold."""
    from .memory import free_memory

    need, free = prior_memory_bytes(config, header), free_memory(device)
    if free is not None and need > free:
        _, height, width = header.latent_shape(1)
        raise InputError(
            f"out of memory: the token prior needs about {need / 2**30:.1f} GiB for this file's "
            f"{width}x{height} token grid, {free / 2**30:.1f} GiB are free (SPEC 3.5 lets a "
            f"machine refuse a file it cannot hold): decode it on a machine with more memory"
        )


def coder_for_header(header) -> EntropyCoder:
    """The coder a file was written with: mode 0, or mode 1 under the prior its header names
    (SPEC 3.3: refused, errors 30/31, unless the zoo has that name with that hash)."""
    if header.entropy_mode != 1:
        return RAW
    from ..zoo.priors import get_prior, load_prior

    entry = get_prior(header.mlm_name)  # ModelError 30 when unknown
    if entry.weights_hash != header.mlm_hash:
        raise ModelError(
            f"token prior '{entry.name}' is not the one this file was encoded with "
            f"(file says sha256 {header.mlm_hash.hex()[:12]}...)",
            31,
        )
    refuse_other_tokenizer(entry, header.weights_hash, "the file's")
    if header.token_bits > entry.config.token_bits:  # SPEC 6.2: two sub-tokens of sub_bits each
        raise ModelError(
            f"token prior '{entry.name}' codes tokens of at most {entry.config.token_bits} bits, "
            f"the file's are {header.token_bits}",
            32,
        )
    check_prior_memory(entry.config, header)
    return EntropyCoder(1, load_prior(entry), entry.name, entry.weights_hash)
