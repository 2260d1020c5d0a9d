"""Deterministic files: the same arrays always give the same bytes (reproducible DVC outputs)."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed zip timestamps (np.savez_compressed stamps the current time)


def save_npz(path: str | Path, **arrays) -> None:
    """Like `np.savez_compressed`, but byte-identical across runs; refuses to overwrite."""
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path}: already exists; remove it first")
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, buf.getvalue())
