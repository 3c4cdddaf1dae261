"""A scratch directory the build user can reach: Commands actions and builds run as `nobody`
when the tests run as root, so marker and pid files they write or check live here, not under
pytest's private (0700) tmp directories."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from functools import cache
from pathlib import Path


@cache
def shared_dir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="stageline-tests-shared-"))
    path.chmod(0o1777)  # anyone may create files; only their owner may remove them
    atexit.register(shutil.rmtree, path, True)
    assert os.access(path, os.W_OK)
    return path
