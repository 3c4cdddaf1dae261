"""Build caches: a round trip through a real tar.gz, paths outside the workspace skipped, and
hostile archives refused without leaving anything behind."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from stageline.builds.cache import UnsafeArchive, pack_cache, unpack_cache


def write(path: Path, text: str = "x", mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def tree(root: Path) -> dict[str, str]:
    if not root.exists():
        return {}
    return {
        p.relative_to(root).as_posix(): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A build workspace: ws/src (the source) and ws/home (the build's HOME)."""
    (tmp_path / "src").mkdir()
    (tmp_path / "home").mkdir()
    return tmp_path


def test_round_trip(ws: Path, tmp_path: Path) -> None:
    src, home = ws / "src", ws / "home"
    write(src / "node_modules/left-pad/index.js", "pad")
    write(src / "node_modules/.bin/tool", "#!/bin/sh", 0o755)
    write(src / "app.js", "not cached")
    write(home / ".m2/repository/junit/junit.jar", "jar")
    write(home / ".npm/_cacache/index", "npm")
    write(home / ".cache/pip/wheels/w.whl", "wheel")
    write(home / ".cache/other/skip", "not cached")
    os.utime(src / "node_modules/left-pad/index.js", (1_600_000_000, 1_600_000_000))
    paths = ["node_modules/**/*", "/root/.m2", "~/.npm/**/*", "$HOME/.cache/pip/**/*"]

    archive = tmp_path / "out/cache.tar.gz"
    assert pack_cache(src, home, paths, archive) == 5

    fresh = tmp_path / "next"
    (fresh / "src").mkdir(parents=True)
    assert unpack_cache(archive, fresh / "src", fresh / "home") == 5
    assert tree(fresh / "src") == {
        "node_modules/.bin/tool": "#!/bin/sh",
        "node_modules/left-pad/index.js": "pad",
    }
    assert tree(fresh / "home") == {
        ".cache/pip/wheels/w.whl": "wheel",
        ".m2/repository/junit/junit.jar": "jar",
        ".npm/_cacache/index": "npm",
    }
    assert stat.S_IMODE(os.stat(fresh / "src/node_modules/.bin/tool").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(fresh / "src/node_modules/left-pad/index.js").st_mode) == 0o644
    assert os.stat(fresh / "src/node_modules/left-pad/index.js").st_mtime == 1_600_000_000


def test_other_absolute_paths_and_variables_are_skipped_with_a_reason(ws: Path) -> None:
    src, home = ws / "src", ws / "home"
    write(src / "deps/a", "a")
    write(src / "absolute/b", "b")
    skipped: list[str] = []
    paths = [
        "/etc/**/*",
        "$OTHER/x/**/*",
        "~bob/.cache",
        "../outside/**/*",
        "deps/../../escape",
        "deps/**/*",
        f"{src}/absolute/**/*",  # the source directory named absolutely is still the source
        "${CODEBUILD_SRC_DIR}/deps/a",
    ]
    archive = ws / "cache.tar.gz"
    assert pack_cache(src, home, paths, archive, on_skip=skipped.append) == 2
    assert skipped == [
        "cache path '/etc/**/*' skipped: absolute paths outside the source and home "
        "directories are not cached",
        "cache path '$OTHER/x/**/*' skipped: only ~, $HOME and $CODEBUILD_SRC_DIR are "
        "understood here",
        "cache path '~bob/.cache' skipped: only ~, $HOME and $CODEBUILD_SRC_DIR are "
        "understood here",
        "cache path '../outside/**/*' skipped: '..' and NUL are not allowed",
        "cache path 'deps/../../escape' skipped: '..' and NUL are not allowed",
    ]
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["src/absolute/b", "src/deps/a"]


def test_symlinks_leaving_the_source_are_not_packed(ws: Path, tmp_path: Path) -> None:
    src, home = ws / "src", ws / "home"
    secret = write(tmp_path / "elsewhere/secret", "secret")
    write(src / "cache/real", "real")
    (src / "cache/outside").symlink_to(secret)
    (src / "cache/inside").symlink_to(src / "cache/real")
    archive = tmp_path / "c.tar.gz"
    assert pack_cache(src, home, ["cache/**/*"], archive) == 2
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["src/cache/inside", "src/cache/real"]
        member = tar.getmember("src/cache/inside")
        assert member.isfile()  # packed as the file's content, not as a link


def test_the_archive_itself_is_not_packed(ws: Path) -> None:
    src = ws / "src"
    write(src / "keep", "k")
    assert pack_cache(src, ws / "home", ["**/*"], src / "cache.tar.gz") == 1
    assert pack_cache(src, ws / "home", ["**/*"], src / "cache.tar.gz") == 1


def test_nothing_to_cache_still_writes_an_archive(ws: Path) -> None:
    archive = ws / "c.tar.gz"
    assert pack_cache(ws / "src", ws / "missing-home", ["~/.m2/**/*", "none/*"], archive) == 0
    assert unpack_cache(archive, ws / "src", ws / "home") == 0


def test_the_builds_own_files_win_over_the_cache(ws: Path, tmp_path: Path) -> None:
    src, home = ws / "src", ws / "home"
    write(src / "vendor/a", "cached a")
    write(src / "vendor/b", "cached b")
    archive = tmp_path / "c.tar.gz"
    pack_cache(src, home, ["vendor/**/*"], archive)

    fresh = tmp_path / "fresh"
    write(fresh / "vendor/a", "from source")
    assert unpack_cache(archive, fresh, tmp_path / "fresh-home") == 1
    assert tree(fresh) == {"vendor/a": "from source", "vendor/b": "cached b"}


def test_never_writes_through_a_symlink_in_the_workspace(ws: Path, tmp_path: Path) -> None:
    src, home = ws / "src", ws / "home"
    write(src / "node_modules/pkg/index.js", "js")
    archive = tmp_path / "c.tar.gz"
    pack_cache(src, home, ["node_modules/**/*"], archive)

    target = tmp_path / "target"
    target.mkdir()
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "node_modules").symlink_to(target)  # e.g. committed in the source
    assert unpack_cache(archive, fresh, tmp_path / "fresh-home") == 0
    assert list(target.iterdir()) == []


# -- hostile archives ------------------------------------------------------------------------------


def hostile(path: Path, *members: tuple[str, bytes | None, bytes]) -> Path:
    """A tar.gz of (name, type, data); type None is a regular file."""
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            if kind is None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                info.type = kind
                info.linkname = data.decode()
                tar.addfile(info)
    return path


GOOD = ("src/good/file", None, b"good")


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (("/etc/passwd", None, b"x"), "is absolute"),
        (("src/../../escape", None, b"x"), "climbs out with '..'"),
        (("src/a\\..\\b", None, b"x"), "contains NUL or a backslash"),
        (("etc/passwd", None, b"x"), "is outside src/ and home/"),
        (("src", None, b"x"), "is not inside src/ or home/"),
        (("src/link", tarfile.SYMTYPE, b"/etc/passwd"), "is a link or a special file"),
        (("src/hard", tarfile.LNKTYPE, b"src/good/file"), "is a link or a special file"),
        (("src/dev", tarfile.CHRTYPE, b""), "is a link or a special file"),
        (("src/fifo", tarfile.FIFOTYPE, b""), "is a link or a special file"),
    ],
)
def test_hostile_entries_are_refused_and_rolled_back(
    tmp_path: Path, member: tuple[str, bytes | None, bytes], reason: str
) -> None:
    archive = hostile(tmp_path / "evil.tar.gz", GOOD, member)
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    with pytest.raises(UnsafeArchive, match=reason):
        unpack_cache(archive, root / "src", root / "home")
    assert tree(root) == {}  # the good file written before the bad entry is gone again
    assert not (root / "home").exists()
    assert not (root / "src/good").exists()


def test_a_symlink_entry_then_a_file_through_it_writes_nothing_outside(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = hostile(
        tmp_path / "evil.tar.gz",
        ("src/dir", tarfile.SYMTYPE, str(outside).encode()),
        ("src/dir/pwned", None, b"pwned"),
    )
    with pytest.raises(UnsafeArchive):
        unpack_cache(archive, tmp_path / "src", tmp_path / "home")
    assert list(outside.iterdir()) == []


def test_limits_on_entries_and_bytes(tmp_path: Path) -> None:
    archive = hostile(
        tmp_path / "big.tar.gz",
        ("src/a", None, b"a" * 600),
        ("src/b", None, b"b" * 600),
    )
    with pytest.raises(UnsafeArchive, match="more than 1000 bytes"):
        unpack_cache(archive, tmp_path / "src", tmp_path / "home", max_bytes=1000)
    with pytest.raises(UnsafeArchive, match="more than 1 entries"):
        unpack_cache(archive, tmp_path / "src", tmp_path / "home", max_files=1)
    assert tree(tmp_path / "src") == {}
    assert unpack_cache(archive, tmp_path / "src", tmp_path / "home") == 2


@pytest.mark.parametrize("data", [b"not a tar at all", b""])
def test_corrupt_archives_are_refused(tmp_path: Path, data: bytes) -> None:
    archive = tmp_path / "bad.tar.gz"
    archive.write_bytes(data)
    with pytest.raises(UnsafeArchive, match="corrupt cache archive"):
        unpack_cache(archive, tmp_path / "src", tmp_path / "home")


def test_a_truncated_archive_is_refused_and_rolled_back(tmp_path: Path) -> None:
    archive = hostile(
        tmp_path / "c.tar.gz",
        GOOD,
        ("src/big", None, os.urandom(200_000)),  # incompressible, so truncation cuts into it
    )
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) - 50_000])
    with pytest.raises(UnsafeArchive, match="corrupt cache archive"):
        unpack_cache(archive, tmp_path / "src", tmp_path / "home")
    assert tree(tmp_path / "src") == {}
