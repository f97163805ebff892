"""Where the shared, read-only development datasets are (NAB, WNUT17, GPTFuzz, ConvAbuse, COMPAS):
$RISKWATCH_SHARED_DATA, else ``../shared/data`` beside the checkout, else /work/shared/data (the
workspace's copy, for clones made elsewhere). Read by training commands, benchmarks and tests;
never by the worker."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def shared_data() -> Path:
    candidates = [Path(p) for p in [os.environ.get("RISKWATCH_SHARED_DATA")] if p]
    candidates += [REPO.parent / "shared" / "data", Path("/work/shared/data")]
    for path in candidates:
        if path.is_dir():
            return path
    return candidates[0]
