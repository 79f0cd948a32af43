"""SHA-256 of files, read in chunks (benchmarks for staleness, adapters for installs)."""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike) -> str:
    """The hex SHA-256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


@lru_cache(maxsize=256)
def _cached(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(path)


def sha256_file_cached(path: str | os.PathLike) -> str | None:
    """Like :func:`sha256_file`, memoised on (path, size, mtime); None when unreadable."""
    p = Path(path)
    try:
        st = p.stat()
        return _cached(str(p.resolve()), st.st_size, st.st_mtime_ns)
    except OSError:
        return None
