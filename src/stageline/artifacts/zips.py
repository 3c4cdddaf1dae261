"""Artifact zips: deterministic packing and refusing extraction of hostile archives.

pack_directory / select_files
    Selects files under `root` (or `root/base_directory`) with globs, CodeBuild-style: "*"
    matches within one path segment, "**" any number of segments, so "**/*" is every file at
    any depth (dotfiles included) and "dist/*.js" the .js files directly in dist/. A pattern
    without glob characters that names a directory packs that directory's contents. `exclude`
    takes the same kind of patterns and wins over `patterns`. Entry names are the paths relative
    to the base (just the file name with discard_paths; two files with one name is a ValueError).
    A symlink to a file inside `root` is packed as that file's content; a symlink pointing
    outside `root`, a dangling one, a symlink to a directory and anything not a regular file are
    skipped silently. The zip is deterministic (sorted entries, timestamps 1980-01-01, modes
    0644 or 0755, no directory entries), written to a temp file and renamed onto `dest`.
    select_files answers the same selection without zipping (test reports, build caches).

extract_zip
    Checks every entry before writing anything, raising UnsafeArchive for absolute names, drive
    letters, '..' segments, NUL or backslash in a name, symlink entries, encrypted entries,
    unknown compression, more than max_files entries, or declared sizes summing over max_bytes.
    While streaming it counts the bytes really written and stops at max_bytes (or when an entry
    outgrows its declared size), so a lying header cannot get past the limit. Nothing is written
    outside `dest` (a pre-existing symlink or file in the way is refused too). On failure what
    this call created is removed again. A corrupt archive (bad CRC, truncated data, not a zip)
    also raises UnsafeArchive. Files get 0755 (any executable bit in the entry) or 0644.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
_CHUNK = 1024 * 1024
_MAGIC = re.compile(r"[*?\[]")
_DRIVE = re.compile(r"^[A-Za-z]:")
_COMPRESSIONS = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
)


class UnsafeArchive(ValueError):
    """The archive was refused: hostile, over a limit, or corrupt."""


# -- packing ------------------------------------------------------------------------------------


def pack_directory(
    root: Path,
    dest: Path,
    *,
    patterns: Sequence[str] = ("**/*",),
    base_directory: str | None = None,
    discard_paths: bool = False,
    exclude: Sequence[str] = (),
) -> int:
    """Zip the files under root (or root/base_directory) that match; returns how many."""
    root_real = Path(root).resolve()
    base = _base_dir(root_real, base_directory)
    dest = Path(dest)
    files = _select(root_real, base, patterns, exclude, dest.resolve()) if base else []
    entries = _entry_names(files, discard_paths)
    _write_zip(entries, dest)
    return len(entries)


@dataclass(frozen=True)
class SelectedFile:
    name: str  # path relative to the base, posix (just the file name with discard_paths)
    path: Path  # the file to read: the file itself, or a symlink's target inside root
    mode: int  # st_mode of `path`


def select_files(
    root: Path,
    *,
    patterns: Sequence[str] = ("**/*",),
    base_directory: str | None = None,
    discard_paths: bool = False,
    exclude: Sequence[str] = (),
) -> list[SelectedFile]:
    """The files pack_directory would pack, sorted by name, without zipping them.

    Same globs, base directory, symlink rules and errors (ValueError) as pack_directory.
    """
    root_real = Path(root).resolve()
    base = _base_dir(root_real, base_directory)
    files = _select(root_real, base, patterns, exclude, None) if base else []
    return [SelectedFile(name, c.source, c.mode) for name, c in _entry_names(files, discard_paths)]


@dataclass(frozen=True)
class _Candidate:
    rel: str  # path relative to the base, posix
    source: Path  # the file whose bytes are packed (a symlink's target)
    mode: int


def _base_dir(root_real: Path, base_directory: str | None) -> Path | None:
    if not base_directory or base_directory in (".", "./"):
        return root_real
    parts = _relative_parts(base_directory, "base_directory")
    base = root_real.joinpath(*parts).resolve()
    if not base.is_relative_to(root_real):
        raise ValueError(f"base_directory {base_directory!r} leaves the root")
    return base if base.is_dir() else None


def _relative_parts(pattern: str, what: str) -> list[str]:
    if pattern.startswith("/") or "\x00" in pattern:
        raise ValueError(f"{what} {pattern!r} must be a relative path")
    parts = [p for p in pattern.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"{what} {pattern!r} must not contain '..'")
    return parts


def _matcher(patterns: Sequence[str], base: Path, what: str) -> re.Pattern[str] | None:
    regexes = []
    for pattern in patterns:
        parts = _relative_parts(pattern, what)
        if not parts:
            parts = ["**"]
        if not _MAGIC.search(pattern) and base.joinpath(*parts).is_dir():
            parts = [*parts, "**"]  # a plain directory name: everything inside it
        regexes.append(_glob_regex(parts))
    return re.compile("|".join(f"(?:{r})" for r in regexes)) if regexes else None


def _glob_regex(parts: list[str]) -> str:
    out = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            out.append(".*" if last else "(?:[^/]+/)*")
        else:
            out.append(_segment_regex(part) + ("" if last else "/"))
    return "".join(out)


def _segment_regex(segment: str) -> str:
    out, i = [], 0
    while i < len(segment):
        c = segment[i]
        i += 1
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[" and (end := _class_end(segment, i)) > 0:
            body = segment[i:end]
            if body[:1] in ("!", "^"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(c))
    return "".join(out)


def _class_end(segment: str, start: int) -> int:
    """Index of the ']' closing a character class opened just before `start`, or -1."""
    i = start + 1 if segment[start : start + 1] in ("!", "^") else start
    if segment[i : i + 1] == "]":
        i += 1  # a leading ']' is a member, as in fnmatch
    return segment.find("]", i)


def _select(
    root_real: Path, base: Path, patterns: Sequence[str], exclude: Sequence[str], dest: Path | None
) -> list[_Candidate]:
    include = _matcher(patterns, base, "pattern")
    excluded = _matcher(exclude, base, "exclude pattern")
    if include is None:
        return []
    found = []
    for candidate in _walk(root_real, base):
        if candidate.source == dest or not include.fullmatch(candidate.rel):
            continue
        if excluded is not None and excluded.fullmatch(candidate.rel):
            continue
        found.append(candidate)
    return found


def _walk(root_real: Path, base: Path) -> Iterator[_Candidate]:
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames.sort()
        here = Path(dirpath)
        for name in sorted(filenames):
            path = here / name
            st = os.lstat(path)
            source = path
            if stat.S_ISLNK(st.st_mode):
                try:
                    source = path.resolve(strict=True)
                    st = os.stat(source)
                except (OSError, RuntimeError):
                    continue  # dangling or looping
                if not source.is_relative_to(root_real):
                    continue
            if stat.S_ISREG(st.st_mode):
                rel = path.relative_to(base).as_posix()
                yield _Candidate(rel, source, st.st_mode)


def _entry_names(files: list[_Candidate], discard_paths: bool) -> list[tuple[str, _Candidate]]:
    named: dict[str, _Candidate] = {}
    for candidate in files:
        name = PurePosixPath(candidate.rel).name if discard_paths else candidate.rel
        if name in named:
            raise ValueError(
                f"discard_paths: {named[name].rel!r} and {candidate.rel!r} are both named {name!r}"
            )
        named[name] = candidate
    return sorted(named.items())


def _write_zip(entries: list[tuple[str, _Candidate]], dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with (
            os.fdopen(fd, "wb") as raw,
            zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf,
        ):
            for name, candidate in entries:
                info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
                info.create_system = 3  # Unix, so the mode below means something
                info.compress_type = zipfile.ZIP_DEFLATED
                mode = 0o755 if candidate.mode & 0o111 else 0o644
                info.external_attr = (stat.S_IFREG | mode) << 16
                info.file_size = os.stat(candidate.source).st_size  # picks zip64 when needed
                with open(candidate.source, "rb") as src, zf.open(info, "w") as out:
                    shutil.copyfileobj(src, out, _CHUNK)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


# -- extraction ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    info: zipfile.ZipInfo
    parts: tuple[str, ...]
    is_dir: bool
    executable: bool


def extract_zip(
    archive: Path, dest: Path, *, max_bytes: int = 2 * 1024**3, max_files: int = 100_000
) -> int:
    """Extract a zip into dest, refusing anything unsafe (see the module docstring)."""
    try:
        with zipfile.ZipFile(archive) as zf:
            entries = _plan(zf.infolist(), max_bytes, max_files)
            return _extract(zf, entries, Path(dest), max_bytes)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise UnsafeArchive(f"corrupt zip archive: {exc}") from exc


def _plan(infos: list[zipfile.ZipInfo], max_bytes: int, max_files: int) -> list[_Entry]:
    if len(infos) > max_files:
        raise UnsafeArchive(f"archive has {len(infos)} entries, more than {max_files}")
    declared = 0
    entries = []
    for info in infos:
        entry = _check_entry(info)
        if entry is None:
            continue
        if not entry.is_dir:
            declared += info.file_size
        if declared > max_bytes:
            raise UnsafeArchive(f"archive expands to more than {max_bytes} bytes")
        entries.append(entry)
    return entries


def _check_entry(info: zipfile.ZipInfo) -> _Entry | None:
    name = info.orig_filename
    if "\x00" in name or "\\" in name:
        raise UnsafeArchive(f"entry name {name!r} contains NUL or a backslash")
    if name.startswith("/") or _DRIVE.match(name):
        raise UnsafeArchive(f"entry name {name!r} is absolute")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise UnsafeArchive(f"entry name {name!r} climbs out with '..'")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise UnsafeArchive(f"entry {name!r} is a symlink")
    if info.flag_bits & 0x1:
        raise UnsafeArchive(f"entry {name!r} is encrypted")
    if info.compress_type not in _COMPRESSIONS:
        raise UnsafeArchive(f"entry {name!r} uses unsupported compression {info.compress_type}")
    if not parts:
        return None  # "./" and the like
    is_dir = name.endswith("/") or stat.S_ISDIR(mode)
    executable = info.create_system == 3 and bool(mode & 0o111)
    return _Entry(info, parts, is_dir, executable)


class _Undo:
    """Paths this extraction created, removed again if it fails."""

    def __init__(self) -> None:
        self.paths: list[Path] = []

    def rollback(self) -> None:
        for path in reversed(self.paths):
            with contextlib.suppress(OSError):
                if path.is_dir() and not path.is_symlink():
                    path.rmdir()
                else:
                    path.unlink()


def _extract(zf: zipfile.ZipFile, entries: list[_Entry], dest: Path, max_bytes: int) -> int:
    undo = _Undo()
    if not dest.exists():
        dest.mkdir(parents=True)
        undo.paths.append(dest)
    root = dest.resolve()
    budget = [max_bytes]
    count = 0
    try:
        for entry in entries:
            if entry.is_dir:
                _make_dirs(root, entry.parts, undo)
                continue
            parent = _make_dirs(root, entry.parts[:-1], undo)
            _extract_file(zf, entry, parent / entry.parts[-1], budget, undo)
            count += 1
    except BaseException:
        undo.rollback()
        raise
    return count


def _make_dirs(root: Path, parts: Sequence[str], undo: _Undo) -> Path:
    here = root
    for part in parts:
        here = here / part
        try:
            st = os.lstat(here)
        except FileNotFoundError:
            here.mkdir()
            undo.paths.append(here)
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafeArchive(f"{'/'.join(parts)}: {here.name!r} is in the way (file or symlink)")
    return here


def _extract_file(
    zf: zipfile.ZipFile, entry: _Entry, target: Path, budget: list[int], undo: _Undo
) -> None:
    name = entry.info.orig_filename
    existed = os.path.lexists(target)
    if existed and os.path.isdir(target) and not os.path.islink(target):
        raise UnsafeArchive(f"entry {name!r} would replace a directory")
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, zf.open(entry.info) as src:
            _copy_limited(src, out, entry, budget)
            os.fchmod(out.fileno(), 0o755 if entry.executable else 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if not existed:
        undo.paths.append(target)


def _copy_limited(src: IO[bytes], out: IO[bytes], entry: _Entry, budget: list[int]) -> None:
    written = 0
    while chunk := src.read(_CHUNK):
        written += len(chunk)
        budget[0] -= len(chunk)
        if budget[0] < 0:
            raise UnsafeArchive("archive expands to more bytes than allowed")
        if written > entry.info.file_size:
            raise UnsafeArchive(f"entry {entry.info.orig_filename!r} is larger than declared")
        out.write(chunk)
