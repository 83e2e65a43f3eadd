"""Batch transcoding: many files, resumable, in parallel, on one machine or a Ray cluster.

`tokcodec transcode` and `tokcodec tokens` (for a folder) are thin layers over
`run_batch`. The pieces, each small:

- walk.py       which files, and the output name of each (a mirrored tree under DST)
- state.py      the SQLite database of per-file state, and the lock (driver only)
- driver.py     plan against the database, run the jobs, record results, sum up
- executors.py  local worker processes (memory-admitted) or Ray tasks
- work.py       the per-file job that both executors run: encode, decode, tokens, verify
- outputs.py    a job's outputs committed together (tokcodec.io.atomic) and fsynced
- streams.py    audio/subtitles kept in a side file, metadata in a JSON sidecar
- verify.py     --verify: read an output back and compare

See docs/batch.md. Importing this package does not import torch.
"""

from tokcodec.batch.driver import BatchOptions, Summary, run_batch

__all__ = ["BatchOptions", "Summary", "run_batch"]
