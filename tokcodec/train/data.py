"""Training clips from video files, frame folders and images, held in memory.

Everything is decoded once into a `FrameBank` (uint8, downscaled so the
longer side is at most `max_side`), then random crops are cut from memory:
decoding is far slower than a training step on a CPU, and on a GPU the bank
can live on the device. Images are 1-frame clips (image pre-training).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..io import read_frames
from ..io.video import IMAGE_SUFFIXES, VIDEO_SUFFIXES


def find_sources(paths: list[str | Path]) -> tuple[list[Path], list[Path]]:
    """Split paths (files or folders, searched recursively) into (videos, stills).

    A folder whose images are numbered consecutively (00000.jpg, 00001.jpg,
    ...) counts as one video; other images (even digit-named photo sets like
    BSDS) are stills.
    """
    videos, stills = [], []
    for root in map(Path, paths):
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        images: dict[Path, list[Path]] = {}
        for f in files:
            suffix = f.suffix.lower()
            if suffix in VIDEO_SUFFIXES:
                videos.append(f)
            elif suffix in IMAGE_SUFFIXES:
                images.setdefault(f.parent, []).append(f)
        for folder, members in images.items():
            if _is_frame_sequence(members):
                videos.append(folder)
            else:
                stills.extend(members)
    return videos, stills


def _is_frame_sequence(files: list[Path]) -> bool:
    numbers = sorted(int(f.stem) for f in files if f.stem.isdigit())
    return len(files) > 1 and len(numbers) == len(files) and numbers[-1] - numbers[0] == len(numbers) - 1


def _fit(frames: list[np.ndarray], max_side: int) -> list[np.ndarray]:
    h, w = frames[0].shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale == 1.0:
        return frames
    x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float()
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    x = torch.nn.functional.interpolate(x, size=size, mode="area")
    return list(x.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy())


@dataclass
class FrameBank:
    videos: list[torch.Tensor]  # each (T, 3, H, W) uint8
    stills: list[torch.Tensor]  # each (1, 3, H, W) uint8

    @classmethod
    def load(
        cls,
        paths: list[str | Path],
        max_side: int = 640,
        max_frames: int = 300,
        quiet: bool = False,
        cache: str | Path | None = None,
    ) -> "FrameBank":
        """Decode every source; with `cache`, reuse the decoded bank there when it holds the same sources at
        the same size (else decode again and rewrite it: a stale cache would train on other data)."""
        videos, stills = find_sources(paths)
        if not videos and not stills:
            raise ValueError(f"no video or image found in {', '.join(map(str, paths))}")
        key = {"sources": [str(p.resolve()) for p in videos + stills], "max_side": max_side, "max_frames": max_frames}
        if cache and Path(cache).exists():
            saved = torch.load(cache)
            if saved.get("key") == key:
                return cls(saved["videos"], saved["stills"])
            if not quiet:
                tqdm.write(f"{cache}: made from other sources or sizes; decoding again")
        bank = cls._decode(videos, stills, max_side, max_frames, quiet)
        if cache:
            torch.save({"videos": bank.videos, "stills": bank.stills, "key": key}, cache)
        return bank

    @classmethod
    def _decode(
        cls, videos: list[Path], stills: list[Path], max_side: int, max_frames: int, quiet: bool
    ) -> "FrameBank":
        bank = cls([], [])
        for path in tqdm(videos + stills, desc="loading data", disable=quiet, unit="file"):
            frames, _ = read_frames(path, max_frames=max_frames)
            tensor = torch.from_numpy(np.stack(_fit(frames, max_side))).permute(0, 3, 1, 2).contiguous()
            (bank.videos if path in videos else bank.stills).append(tensor)
        return bank

    def to(self, device: str | torch.device) -> "FrameBank":
        return FrameBank([v.to(device) for v in self.videos], [s.to(device) for s in self.stills])

    def sample(self, batch: int, frames: int, crop: int, generator: torch.Generator) -> torch.Tensor:
        """A batch (B, 3, frames, crop, crop) in [-1, 1] of random crops.

        frames == 1 draws from stills and video frames alike; longer clips
        come from videos only. Crops are flipped left-right half the time.
        """
        pool = self.videos + self.stills if frames == 1 else [v for v in self.videos if v.shape[0] >= frames]
        if not pool:
            raise ValueError(f"no video has {frames} frames")
        clips = []
        for _ in range(batch):
            src = pool[int(torch.randint(len(pool), (1,), generator=generator))]
            t0 = int(torch.randint(src.shape[0] - frames + 1, (1,), generator=generator))
            clip = src[t0 : t0 + frames]
            h, w = clip.shape[-2:]
            if min(h, w) < crop:  # small sources are upscaled to the crop
                clip = torch.nn.functional.interpolate(
                    clip.float(), scale_factor=crop / min(h, w) + 1e-3, mode="bilinear"
                ).clamp(0, 255)
                h, w = clip.shape[-2:]
            y = int(torch.randint(h - crop + 1, (1,), generator=generator))
            x = int(torch.randint(w - crop + 1, (1,), generator=generator))
            clip = clip[..., y : y + crop, x : x + crop]
            if torch.rand(1, generator=generator) < 0.5:
                clip = clip.flip(-1)
            clips.append(clip.float())
        return torch.stack(clips).permute(0, 2, 1, 3, 4) / 127.5 - 1
