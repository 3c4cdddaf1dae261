"""Build caches: the buildspec's `cache.paths`, kept between builds of one project.

After a build, pack_cache puts the files its paths select into one tar.gz; before the next
build of the same project, unpack_cache puts them back. Moving the archive is the caller's
job: keep it in the object store, one key per project (CodeBuild's S3 cache is likewise one
archive per project under the project's cache location), e.g. `<bucket>/<prefix>/<project>/
cache.tar.gz`, uploaded after the build and downloaded before the next one; a missing or
refused archive just means a build without cache.

Paths are globs as in the buildspec ("*" within a segment, "**" across segments, a plain
directory name for everything in it; zips.select_files does the matching):
- relative ones, `$CODEBUILD_SRC_DIR/...`, and absolute ones inside src_dir are under src_dir;
- `~/...`, `$HOME/...`, `${HOME}/...` and `/root/...` (HOME on CodeBuild's standard images) are
  under `home`;
- anything else (another absolute path, another variable, `~user`, a `..` segment) is skipped
  and `on_skip` is told why, for the build log: a build writes only inside its workspace.
Only regular files are cached (a symlink to a file inside its root as that file's content);
empty directories are not. Entries are named `src/<path>` and `home/<path>`.

unpack_cache refuses (UnsafeArchive, after removing what it had written) entries that are
absolute, contain '..', NUL or a backslash, lie outside `src/` and `home/`, or are links or
special files, and archives over max_files entries or max_bytes of content, or corrupt. It
never writes through a symlink or replaces a file that is already there: the build's own files
(its source, its image's home) win over the cache, and entries under a symlink or a file in the
workspace are left out.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

from stageline.artifacts.zips import SelectedFile, UnsafeArchive, select_files

__all__ = ["UnsafeArchive", "pack_cache", "unpack_cache"]

_HOME_PREFIXES = ("~", "$HOME", "${HOME}", "/root")
_SRC_PREFIXES = ("$CODEBUILD_SRC_DIR", "${CODEBUILD_SRC_DIR}")
_ROOTS = ("src", "home")
_CHUNK = 1024 * 1024


class _Skip(Exception):
    """A cache path that is not cached; the message says why."""


# -- packing ---------------------------------------------------------------------------------------


def pack_cache(
    src_dir: Path,
    home: Path,
    paths: Sequence[str],
    dest: Path,
    *,
    on_skip: Callable[[str], None] | None = None,
) -> int:
    """Write the files `paths` select under src_dir and home to dest (tar.gz); returns how many.

    A path that is not cached is reported to on_skip as one line for the build log.
    """
    roots = {"src": Path(src_dir), "home": Path(home)}
    patterns: dict[str, list[str]] = {key: [] for key in _ROOTS}
    for path in paths:
        try:
            key, pattern = _map(path, roots["src"])
        except _Skip as why:
            if on_skip is not None:
                on_skip(f"cache path {path!r} skipped: {why}")
            continue
        patterns[key].append(pattern)
    dest = Path(dest)
    dest_real = dest.resolve()
    entries: list[tuple[str, SelectedFile]] = []
    for key, wanted in patterns.items():
        if wanted:
            for selected in select_files(roots[key], patterns=wanted):
                if selected.path != dest_real:
                    entries.append((f"{key}/{selected.name}", selected))
    return _write(entries, dest)


def _map(path: str, src_dir: Path) -> tuple[str, str]:
    """(root key, glob relative to that root) for a buildspec cache path, or _Skip."""
    text = path.strip()
    absolute = PurePosixPath(text)
    if absolute.is_absolute() and absolute.is_relative_to(src_dir.as_posix()):
        return "src", _relative(absolute.relative_to(src_dir.as_posix()).as_posix())
    for key, prefixes in (("home", _HOME_PREFIXES), ("src", _SRC_PREFIXES)):
        for prefix in prefixes:
            if text == prefix or text.startswith(prefix + "/"):
                return key, _relative(text[len(prefix) :])
    if absolute.is_absolute():
        raise _Skip("absolute paths outside the source and home directories are not cached")
    if text.startswith(("~", "$")):
        raise _Skip("only ~, $HOME and $CODEBUILD_SRC_DIR are understood here")
    return "src", _relative(text)


def _relative(pattern: str) -> str:
    parts = [part for part in pattern.split("/") if part not in ("", ".")]
    if ".." in parts or "\x00" in pattern:
        raise _Skip("'..' and NUL are not allowed")
    return "/".join(parts)  # "" selects everything under the root


def _write(entries: list[tuple[str, SelectedFile]], dest: Path) -> int:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    count = 0
    try:
        with (
            os.fdopen(fd, "wb") as raw,
            tarfile.open(fileobj=raw, mode="w:gz", format=tarfile.PAX_FORMAT) as tar,
        ):
            for name, selected in entries:
                count += _add(tar, name, selected.path)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return count


def _add(tar: tarfile.TarFile, name: str, path: Path) -> int:
    try:
        src = open(path, "rb")  # noqa: SIM115 - closed below; opening first tells us it exists
    except FileNotFoundError:
        return 0  # removed since it was selected (a build tool still cleaning up)
    with src:
        st = os.fstat(src.fileno())
        info = tarfile.TarInfo(name)
        info.size = st.st_size
        info.mtime = int(st.st_mtime)  # kept: build tools compare timestamps
        info.mode = 0o755 if st.st_mode & 0o111 else 0o644
        tar.addfile(info, src)
    return 1


# -- unpacking -------------------------------------------------------------------------------------


def unpack_cache(
    archive: Path,
    src_dir: Path,
    home: Path,
    *,
    max_bytes: int = 5 * 1024**3,
    max_files: int = 1_000_000,
) -> int:
    """Restore a pack_cache archive; returns how many files were written (see module doc)."""
    roots = {"src": Path(src_dir), "home": Path(home)}
    created: list[Path] = []
    try:
        return _unpack(Path(archive), roots, created, max_bytes, max_files)
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        _rollback(created)
        raise UnsafeArchive(f"corrupt cache archive: {exc}") from exc
    except BaseException:
        _rollback(created)
        raise


def _unpack(
    archive: Path, roots: dict[str, Path], created: list[Path], max_bytes: int, max_files: int
) -> int:
    written = seen = 0
    budget = max_bytes
    with tarfile.open(archive, mode="r|gz") as tar:  # streamed: one pass over the gzip
        for member in tar:
            seen += 1
            if seen > max_files:
                raise UnsafeArchive(f"cache archive has more than {max_files} entries")
            key, parts = _check(member)
            if member.isdir():
                continue
            budget -= member.size
            if budget < 0:
                raise UnsafeArchive(f"cache archive expands to more than {max_bytes} bytes")
            written += _place(tar, member, roots[key], parts, created)
    return written


def _check(member: tarfile.TarInfo) -> tuple[str, tuple[str, ...]]:
    name = member.name
    if "\x00" in name or "\\" in name:
        raise UnsafeArchive(f"entry name {name!r} contains NUL or a backslash")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchive(f"entry name {name!r} is absolute")
    parts = tuple(part for part in name.split("/") if part not in ("", "."))
    if ".." in parts:
        raise UnsafeArchive(f"entry name {name!r} climbs out with '..'")
    if not parts or parts[0] not in _ROOTS:
        raise UnsafeArchive(f"entry name {name!r} is outside src/ and home/")
    if not (member.isfile() or member.isdir()):
        raise UnsafeArchive(f"entry {name!r} is a link or a special file")
    if member.isfile() and len(parts) < 2:
        raise UnsafeArchive(f"entry {name!r} is not inside src/ or home/")
    return parts[0], parts[1:]


def _place(
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    root: Path,
    parts: tuple[str, ...],
    created: list[Path],
) -> int:
    parent = _make_dirs(root, parts[:-1], created)
    if parent is None:
        return 0  # a file or symlink of the build's own is in the way: leave it be
    target = parent / parts[-1]
    if os.path.lexists(target):
        return 0  # the build's own file wins over the cached one
    src = tar.extractfile(member)
    assert src is not None  # a regular file always has content
    mode = 0o755 if member.mode & 0o111 else 0o644
    # O_EXCL|O_NOFOLLOW: never through a symlink, never over a file that appeared meanwhile.
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    created.append(target)
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(src, out, _CHUNK)
        os.fchmod(out.fileno(), mode)
    os.utime(target, (member.mtime, member.mtime))
    return 1


def _make_dirs(root: Path, parts: Sequence[str], created: list[Path]) -> Path | None:
    """root/parts as real directories, creating the missing ones; None when something that is
    not a directory (a file, a symlink) is in the way."""
    if not root.is_dir():
        root.mkdir(parents=True)
        created.append(root)
    here = root
    for part in parts:
        here = here / part
        try:
            st = os.lstat(here)
        except FileNotFoundError:
            here.mkdir()
            created.append(here)
            continue
        if not stat.S_ISDIR(st.st_mode):
            return None
    return here


def _rollback(created: list[Path]) -> None:
    for path in reversed(created):
        with contextlib.suppress(OSError):
            if path.is_dir() and not path.is_symlink():
                path.rmdir()
            else:
                path.unlink()
