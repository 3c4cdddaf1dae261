"""Packing directories into deterministic zips and refusing hostile ones on extraction."""

from __future__ import annotations

import binascii
import io
import os
import stat
import struct
import zipfile
from pathlib import Path

import pytest

from stageline.artifacts.zips import UnsafeArchive, extract_zip, pack_directory


def make_tree(root: Path, files: dict[str, bytes | str]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def names(archive: Path) -> list[str]:
    with zipfile.ZipFile(archive) as zf:
        return zf.namelist()


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def zip_with(tmp_path: Path, *entries: tuple[zipfile.ZipInfo | str, bytes]) -> Path:
    archive = tmp_path / "crafted.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in entries:
            zf.writestr(info, data)
    return archive


# -- round trips --------------------------------------------------------------------------------


def test_round_trip_with_nested_dirs_and_executable_bit(tmp_path: Path) -> None:
    src = make_tree(
        tmp_path / "src",
        {"README.md": "hi", "a/b/c.txt": "deep", "scripts/build.sh": "#!/bin/sh\necho ok\n"},
    )
    (src / "scripts/build.sh").chmod(0o750)
    (src / "a/b/c.txt").chmod(0o600)
    archive = tmp_path / "out.zip"
    assert pack_directory(src, archive) == 3
    assert names(archive) == ["README.md", "a/b/c.txt", "scripts/build.sh"]

    dest = tmp_path / "dest"
    assert extract_zip(archive, dest) == 3
    assert tree(dest) == tree(src)
    assert stat.S_IMODE(os.stat(dest / "scripts/build.sh").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(dest / "a/b/c.txt").st_mode) == 0o644
    assert os.access(dest / "scripts/build.sh", os.X_OK)


def test_extracts_zips_from_other_tools(tmp_path: Path) -> None:
    """Directory entries, './' prefixes and entries without a Unix mode are fine."""
    plain = zipfile.ZipInfo("plain.txt")
    plain.create_system = 0  # MS-DOS: no mode bits
    archive = zip_with(tmp_path, ("dir/", b""), ("./dir/x", b"x"), (plain, b"p"), ("empty/", b""))
    dest = tmp_path / "dest"
    assert extract_zip(archive, dest) == 2
    assert tree(dest) == {"dir/x": b"x", "plain.txt": b"p"}
    assert (dest / "empty").is_dir()


def test_pack_is_deterministic(tmp_path: Path) -> None:
    src = make_tree(
        tmp_path / "src", {f"d{i}/f{j}.txt": f"{i}{j}" * 50 for i in range(3) for j in range(3)}
    )
    first, second = tmp_path / "1.zip", tmp_path / "2.zip"
    pack_directory(src, first)
    for path in src.rglob("*"):
        os.utime(path, (1_000_000_000, 1_000_000_000))  # times do not matter
    pack_directory(src, second)
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as zf:
        assert {info.date_time for info in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert zf.namelist() == sorted(zf.namelist())


# -- selection ---------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_tree(
        tmp_path / "project",
        {
            "package.json": "{}",
            ".env": "SECRET=1",
            "src/app.ts": "ts",
            "dist/app.js": "js",
            "dist/app.js.map": "map",
            "dist/vendor/lib.js": "lib",
            "dist/assets/logo.png": "png",
            "node_modules/x/index.js": "nm",
        },
    )


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        (
            {},
            [
                ".env",
                "dist/app.js",
                "dist/app.js.map",
                "dist/assets/logo.png",
                "dist/vendor/lib.js",
                "node_modules/x/index.js",
                "package.json",
                "src/app.ts",
            ],
        ),
        ({"patterns": ["dist/*.js"]}, ["dist/app.js"]),
        (
            {"patterns": ["**/*.js"]},
            ["dist/app.js", "dist/vendor/lib.js", "node_modules/x/index.js"],
        ),
        ({"patterns": ["*"]}, [".env", "package.json"]),
        (
            {"patterns": ["dist"]},
            ["dist/app.js", "dist/app.js.map", "dist/assets/logo.png", "dist/vendor/lib.js"],
        ),
        (
            {"patterns": ["./dist/"]},
            ["dist/app.js", "dist/app.js.map", "dist/assets/logo.png", "dist/vendor/lib.js"],
        ),
        ({"patterns": ["package.json", "src/app.ts"]}, ["package.json", "src/app.ts"]),
        ({"patterns": ["dist/app.js?map", "dist/[a-b]pp.js"]}, ["dist/app.js", "dist/app.js.map"]),
        ({"base_directory": "dist"}, ["app.js", "app.js.map", "assets/logo.png", "vendor/lib.js"]),
        ({"base_directory": "dist", "patterns": ["*.js"]}, ["app.js"]),
        (
            {"base_directory": "dist", "patterns": ["**/*.js"], "discard_paths": True},
            ["app.js", "lib.js"],
        ),
        (
            {"exclude": ["node_modules", "**/*.map", ".*"]},
            [
                "dist/app.js",
                "dist/assets/logo.png",
                "dist/vendor/lib.js",
                "package.json",
                "src/app.ts",
            ],
        ),
        ({"base_directory": "dist", "exclude": ["vendor/**", "assets"]}, ["app.js", "app.js.map"]),
        ({"patterns": ["nothing/*"]}, []),
        ({"base_directory": "missing"}, []),
        ({"patterns": []}, []),
    ],
)
def test_selection(
    project: Path, tmp_path: Path, kwargs: dict[str, object], expected: list[str]
) -> None:
    archive = tmp_path / "out.zip"
    assert pack_directory(project, archive, **kwargs) == len(expected)  # type: ignore[arg-type]
    assert names(archive) == expected


def test_discard_paths_name_clash_is_an_error(project: Path, tmp_path: Path) -> None:
    (project / "src/app.js").write_text("other")
    with pytest.raises(ValueError, match=r"app\.js"):
        pack_directory(project, tmp_path / "o.zip", patterns=["**/app.js"], discard_paths=True)
    assert not (tmp_path / "o.zip").exists()


@pytest.mark.parametrize(
    "kwargs", [{"base_directory": "../x"}, {"patterns": ["../*"]}, {"patterns": ["/etc/*"]}]
)
def test_selection_cannot_leave_the_root(
    project: Path, tmp_path: Path, kwargs: dict[str, object]
) -> None:
    with pytest.raises(ValueError):
        pack_directory(project, tmp_path / "o.zip", **kwargs)  # type: ignore[arg-type]


def test_symlinks(project: Path, tmp_path: Path) -> None:
    outside = make_tree(tmp_path / "outside", {"secret.txt": "s3cr3t"})
    (project / "link-in.txt").symlink_to(project / "src/app.ts")
    (project / "dist/rel-link.js").symlink_to("app.js")
    (project / "link-out.txt").symlink_to(outside / "secret.txt")
    (project / "dangling").symlink_to(project / "nope")
    (project / "dir-link").symlink_to(project / "src", target_is_directory=True)
    (project / "loop").symlink_to(project / "loop")
    os.mkfifo(project / "fifo")  # would block if opened; must be skipped
    archive = tmp_path / "out.zip"
    pack_directory(project, archive, patterns=["*", "dist/*.js"])
    with zipfile.ZipFile(archive) as zf:
        assert zf.namelist() == [
            ".env",
            "dist/app.js",
            "dist/rel-link.js",
            "link-in.txt",
            "package.json",
        ]
        assert zf.read("link-in.txt") == b"ts"
        assert zf.read("dist/rel-link.js") == b"js"
        assert all(not stat.S_ISLNK(i.external_attr >> 16) for i in zf.infolist())


def test_symlink_inside_root_but_outside_base_is_packed(project: Path, tmp_path: Path) -> None:
    (project / "dist/readme").symlink_to(project / "package.json")
    archive = tmp_path / "out.zip"
    pack_directory(project, archive, base_directory="dist", patterns=["readme"])
    with zipfile.ZipFile(archive) as zf:
        assert zf.read("readme") == b"{}"


def test_dest_inside_root_is_not_packed_into_itself(project: Path) -> None:
    archive = project / "out.zip"
    pack_directory(project, archive, patterns=["*.json"])
    pack_directory(project, archive, patterns=["*"])
    assert names(archive) == [".env", "package.json"]


# -- hostile archives -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "../evil.txt",
        "a/../../evil.txt",
        "a/b/../../../evil.txt",
        "/tmp/evil.txt",
        "C:/evil.txt",
        "..\\evil.txt",
        "a\\..\\..\\evil.txt",
    ],
)
def test_escaping_names_are_refused(tmp_path: Path, name: str) -> None:
    archive = zip_with(tmp_path, ("ok.txt", b"fine"), (zipfile.ZipInfo(name), b"evil"))
    dest = tmp_path / "sub" / "dest"
    with pytest.raises(UnsafeArchive):
        extract_zip(archive, dest)
    assert not dest.exists()  # checked before anything is written
    assert not list(tmp_path.rglob("evil.txt"))


def test_nul_in_name_is_refused(tmp_path: Path) -> None:
    archive = zip_with(tmp_path, (zipfile.ZipInfo("evil.shX.txt"), b"x"))
    data = archive.read_bytes().replace(b"evil.shX.txt", b"evil.sh\x00.txt")
    archive.write_bytes(data)
    with pytest.raises(UnsafeArchive, match="NUL"):
        extract_zip(archive, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_symlink_entry_is_refused(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("innocent")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = zip_with(tmp_path, (link, b"/etc/passwd"))
    with pytest.raises(UnsafeArchive, match="symlink"):
        extract_zip(archive, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_existing_symlink_in_dest_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "sub").symlink_to(outside, target_is_directory=True)
    archive = zip_with(tmp_path, ("sub/file.txt", b"x"))
    with pytest.raises(UnsafeArchive):
        extract_zip(archive, dest)
    assert list(outside.iterdir()) == []


def test_too_many_files(tmp_path: Path) -> None:
    archive = zip_with(tmp_path, *[(f"f{i}", b"") for i in range(11)])
    with pytest.raises(UnsafeArchive, match="entries"):
        extract_zip(archive, tmp_path / "dest", max_files=10)
    assert extract_zip(archive, tmp_path / "ok", max_files=11) == 11


def test_zip_bomb_over_max_bytes_is_refused(tmp_path: Path) -> None:
    archive = zip_with(tmp_path, ("a", b"\0" * 600_000), ("b", b"\0" * 600_000))
    assert archive.stat().st_size < 10_000  # it is a (small) bomb
    with pytest.raises(UnsafeArchive, match="more than 1000000 bytes"):
        extract_zip(archive, tmp_path / "dest", max_bytes=1_000_000)
    assert not (tmp_path / "dest").exists()
    assert extract_zip(archive, tmp_path / "ok", max_bytes=1_200_000) == 2


def lie_about_sizes(archive: Path, claimed: int) -> None:
    """Rewrite every uncompressed size (local headers and central directory) to `claimed`."""
    data = bytearray(archive.read_bytes())
    for sig, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        pos = data.find(sig)
        while pos >= 0:
            struct.pack_into("<I", data, pos + offset, claimed)
            pos = data.find(sig, pos + 4)
    archive.write_bytes(bytes(data))


def test_zip_bomb_with_lying_header_is_refused(tmp_path: Path) -> None:
    payload = b"\0" * 5_000_000
    archive = zip_with(tmp_path, ("bomb", payload))
    lie_about_sizes(archive, 100)
    with zipfile.ZipFile(archive) as zf:
        assert zf.infolist()[0].file_size == 100  # the declared size passes the first check
    dest = tmp_path / "dest"
    with pytest.raises(UnsafeArchive):
        extract_zip(archive, dest, max_bytes=1_000)
    assert not dest.exists()  # nothing half-extracted is left


def test_lying_header_with_matching_crc_only_yields_the_declared_bytes(tmp_path: Path) -> None:
    payload = b"\0" * 5_000_000
    archive = zip_with(tmp_path, ("bomb", payload))
    lie_about_sizes(archive, 100)
    data = bytearray(archive.read_bytes())
    for sig, offset in ((b"PK\x03\x04", 14), (b"PK\x01\x02", 16)):
        struct.pack_into("<I", data, data.find(sig) + offset, binascii.crc32(payload[:100]))
    archive.write_bytes(bytes(data))
    assert extract_zip(archive, tmp_path / "dest", max_bytes=1_000) == 1
    assert (tmp_path / "dest" / "bomb").stat().st_size == 100


def test_streaming_count_catches_a_reader_that_overruns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defence in depth: if the zip reader ever yields more than declared, the copy stops."""
    payload = b"\0" * 5_000_000
    archive = zip_with(tmp_path, ("bomb", payload))
    lie_about_sizes(archive, 100)

    def unbounded_open(self: zipfile.ZipFile, *args: object, **kwargs: object) -> io.BytesIO:
        return io.BytesIO(payload)  # a reader that trusts the data, not the header

    monkeypatch.setattr(zipfile.ZipFile, "open", unbounded_open)
    dest = tmp_path / "dest"
    with pytest.raises(UnsafeArchive, match=r"larger than declared|more bytes"):
        extract_zip(archive, dest, max_bytes=1_000)
    assert not dest.exists()


def test_corrupt_archive(tmp_path: Path) -> None:
    archive = tmp_path / "not.zip"
    archive.write_bytes(b"this is not a zip")
    with pytest.raises(UnsafeArchive, match="corrupt"):
        extract_zip(archive, tmp_path / "dest")


def test_failed_extraction_removes_what_it_wrote_but_keeps_existing_files(tmp_path: Path) -> None:
    dest = make_tree(tmp_path / "dest", {"keep.txt": "mine"})
    archive = zip_with(tmp_path, ("new/a.txt", b"a" * 100), ("z", b"\0" * 5_000_000))
    lie_about_sizes(archive, 100)
    with pytest.raises(UnsafeArchive):
        extract_zip(archive, dest, max_bytes=10_000)
    assert tree(dest) == {"keep.txt": b"mine"}
    assert not (dest / "new").exists()
