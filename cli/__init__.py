"""The `tokcodec` command line (installed as the package `tokcodec_cli`).

Before anything loads torch: OpenMP threads that spin while they wait hold a
core that another process needs. On a busy 2-core machine libgomp's default
spin (GOMP_SPINCOUNT 300000) made a 2-thread decode slower than one thread;
a short spin kept the idle machine's 2-thread speed and beat one thread under
load (measurements in tokcodec/zoo/cards/mlm-tc-2.1.md). A user's own
OMP_WAIT_POLICY or GOMP_SPINCOUNT wins.
"""
import os

if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "10000")
