"""The on-disk formats: pointer files and directory manifests (parse, validate, dump)."""

from __future__ import annotations

import pytest

from gitmv.config import Config, parse_size
from gitmv.errors import FormatError
from gitmv.objects import manifest
from gitmv.objects.manifest import Entry
from gitmv.objects.pointer import Pointer, parse_oid

HEX = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
HEX2 = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"


def pointer_text(**fields: str) -> bytes:
    base = {"mvm": "1", "kind": '"file"', "oid": f'"sha256:{HEX}"', "size": "4"}
    base.update(fields)
    return "".join(f"{k} = {v}\n" for k, v in base.items() if v != "").encode()


# --- pointer -------------------------------------------------------------------------------


def test_pointer_dump_is_canonical() -> None:
    assert Pointer("file", HEX, 4).dump() == (
        "# managed by git-mvm: the artifact's bytes live in the mvm cache\n"
        "mvm = 1\n"
        'kind = "file"\n'
        f'oid = "sha256:{HEX}"\n'
        "size = 4\n"
    ).encode()
    assert Pointer("dir", HEX, 10, 3, {"b": "2", "a": "x\"y"}).dump().decode().endswith(
        "size = 10\nfiles = 3\n\n[meta]\na = \"x\\\"y\"\nb = \"2\"\n"
    )


@pytest.mark.parametrize(
    "ptr",
    [
        Pointer("file", HEX, 0),
        Pointer("file", HEX, 2**40),
        Pointer("dir", HEX, 123, 7),
        Pointer("dir", HEX, 0, 0),
        Pointer("file", HEX, 1, None, {"author": "ana", "odd key": "ü\n\"\\", "n": ""}),
    ],
)
def test_pointer_round_trips(ptr: Pointer) -> None:
    assert Pointer.parse(ptr.dump(), "p.mvm") == ptr
    assert Pointer.parse(ptr.dump(), "p.mvm").dump() == ptr.dump()


def test_pointer_accepts_unknown_meta_types_as_text() -> None:
    ptr = Pointer.parse(pointer_text() + b"[meta]\nepochs = 3\n", "p.mvm")
    assert ptr.meta == {"epochs": "3"}


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"mvm = 1\nkind = \"file\nsize = 3\n", "not a valid pointer"),
        (b"\xff\xfe", "not a valid pointer"),
        (b"version https://git-lfs.github.com/spec/v1\n", "not a valid pointer"),
        (b"", "`mvm = <version>` key is missing"),
        (pointer_text(mvm=""), "`mvm = <version>` key is missing"),
        (pointer_text(mvm='"1"'), "`mvm = <version>` key is missing"),
        (pointer_text(mvm="true"), "`mvm = <version>` key is missing"),
        (pointer_text(mvm="2"), "pointer format version 2 is newer than this gitmv"),
        (pointer_text(mvm="0"), "unknown pointer format version 0"),
        (pointer_text(kind='"link"'), "kind must be"),
        (pointer_text(kind=""), "kind must be"),
        (pointer_text(oid=f'"{HEX}"'), "oid must be"),
        (pointer_text(oid=f'"md5:{HEX}"'), "oid must be"),
        (pointer_text(oid=f'"sha256:{HEX.upper()}"'), "oid must be"),
        (pointer_text(oid=f'"sha256:{HEX[:-1]}"'), "oid must be"),
        (pointer_text(oid=f'"sha256:{HEX}0"'), "oid must be"),
        (pointer_text(oid=f'"sha256:{HEX[:-2]}zz"'), "oid must be"),
        (pointer_text(oid="42"), "oid must be"),
        (pointer_text(oid=""), "oid must be"),
        (pointer_text(size="-1"), "size must be a non-negative integer"),
        (pointer_text(size="1.5"), "size must be a non-negative integer"),
        (pointer_text(size='"4"'), "size must be a non-negative integer"),
        (pointer_text(size="true"), "size must be a non-negative integer"),
        (pointer_text(size=""), "size must be a non-negative integer"),
        (pointer_text(kind='"dir"'), "a directory pointer needs `files = N`"),
        (pointer_text(kind='"dir"', files="-3"), "files must be a non-negative integer"),
        (pointer_text(meta='"x"'), "[meta] must be a table"),
        (b"# " + b"x" * 70_000 + b"\n" + pointer_text(), "too large"),
    ],
)
def test_invalid_pointer_is_one_clear_format_error(data: bytes, why: str) -> None:
    with pytest.raises(FormatError) as info:
        Pointer.parse(data, "models/m.pt.mvm")
    err = info.value
    assert err.path == "models/m.pt.mvm"
    assert why in err.why
    assert str(err).startswith("models/m.pt.mvm: ")
    assert "\n" not in str(err)


def test_newer_pointer_version_hints_at_upgrading() -> None:
    with pytest.raises(FormatError) as info:
        Pointer.parse(pointer_text(mvm="2"), "p.mvm")
    assert info.value.hint is not None
    assert "upgrade" in info.value.hint


@pytest.mark.parametrize(
    "value",
    [f"sha256:{HEX}", f"sha256:{HEX2}"],
)
def test_parse_oid_accepts_sha256_ids(value: str) -> None:
    assert parse_oid(value, "x") == value[7:]


# --- manifest ------------------------------------------------------------------------------


def test_manifest_dump_is_sorted_by_path_bytes_and_canonical() -> None:
    entries = [
        Entry("b/x", "644", HEX, 4),
        Entry("a", "755", HEX2, 0),
        Entry("B", "link", HEX, 1),
        Entry("a b/ü", "644", HEX2, 12),
    ]
    data = manifest.dump(entries)
    assert data == (
        "mvm-manifest 1\n"
        f"link {HEX} 1\tB\n"
        f"755 {HEX2} 0\ta\n"
        f"644 {HEX2} 12\ta b/ü\n"
        f"644 {HEX} 4\tb/x\n"
    ).encode()
    assert manifest.parse(data, "m") == sorted(entries, key=lambda e: e.path.encode())
    assert manifest.parse(b"mvm-manifest 1\n", "m") == []


def _one(path: str, mode: str = "644", oid: str = HEX, size: str = "4") -> bytes:
    return f"mvm-manifest 1\n{mode} {oid} {size}\t{path}\n".encode()


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (_one("../escape"), "'..'"),
        (_one("a/../../escape"), "'..'"),
        (_one("a/.."), "'..'"),
        (_one("/etc/passwd"), "absolute"),
        (_one("a//b"), "empty"),
        (_one("a/"), "empty"),
        (_one("./a"), "'.'"),
        (_one(".git/hooks/post-checkout"), ".git"),
        (_one("sub/.git/config"), ".git"),
        (_one("sub/.GIT/config"), ".git"),
        (_one("a\\..\\b"), "posix"),
        (b"mvm-manifest 2\n", "bad header"),
        (b"", "bad header"),
        (_one("a", mode="777"), "malformed"),
        (_one("a", oid=HEX.upper()), "malformed"),
        (_one("a", oid=HEX[:-1]), "malformed"),
        (_one("a", size="-1"), "malformed"),
        (_one("a", size="01"), "malformed"),
        (_one(""), "malformed"),
        (b"mvm-manifest 1\n644 " + HEX.encode() + b" 1\t\xff\n", "not UTF-8"),
        (_one("b") + _one("a")[len(b"mvm-manifest 1\n"):], "not sorted"),
        (_one("a") + _one("a")[len(b"mvm-manifest 1\n"):], "not sorted or not unique"),
        (_one("a") + _one("a/b")[len(b"mvm-manifest 1\n"):], "both a file and a directory"),
    ],
)
def test_invalid_manifest_is_refused(data: bytes, why: str) -> None:
    with pytest.raises(FormatError) as info:
        manifest.parse(data, "manifest of data")
    assert str(info.value).startswith("manifest of data")
    assert why in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("link", "../outside"),
        ("a/link", "../../outside"),
        ("a/link", "../b/../../x"),
        ("link", "/etc/passwd"),
        ("link", ""),
        ("link", "."),
        ("a/link", ".."),
        ("link", ".git/config"),
        ("a/link", "../.git"),
    ],
)
def test_symlink_target_leaving_the_directory_is_refused(path: str, target: str) -> None:
    with pytest.raises(FormatError) as info:
        manifest.check_link_target(path, target, "data")
    assert "symlink" in str(info.value)


@pytest.mark.parametrize(
    ("path", "target"),
    [("link", "file"), ("a/link", "../file"), ("a/b/link", "../c/d"), ("link", "a/./b")],
)
def test_symlink_target_inside_the_directory_is_fine(path: str, target: str) -> None:
    manifest.check_link_target(path, target, "data")


# --- config --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "size"),
    [("5MB", 5_000_000), ("5 MiB", 5 << 20), ("1.5G", 1_500_000_000), (512, 512), ("10k", 10_000)],
)
def test_parse_size(text: str | int, size: int) -> None:
    assert parse_size(text, "hooks.max_file_size") == size


def test_unknown_link_mode_is_a_format_error() -> None:
    with pytest.raises(FormatError, match="unknown link mode"):
        _ = Config({"cache": {"link": ["teleport"]}}).link_modes
    assert Config({}).link_modes == ("reflink", "copy")
    assert Config({"cache": {"link": "hardlink"}}).link_modes == ("hardlink",)


# --- symlinks resolved through each other ------------------------------------------------

ISSUE_CHAIN = {"a/b/c/l": "../../../q", "y": "a/b/c/l/../../../../outside.txt"}


@pytest.mark.parametrize(
    ("links", "why"),
    [
        (ISSUE_CHAIN, "points outside its directory (through 'a/b/c/l' -> '../../../q')"),
        # a link to a directory shallower than where the link is: `..` climbs from there
        ({"deep/er/d": "../../q", "y": "deep/er/d/../../x"}, "through 'deep/er/d'"),
        ({"up": "..", "y": "up/repo/file"}, "points outside"),
        # a chain of three
        ({"a/l1": "../b/l2", "b/l2": "../c/l3", "c/l3": "../..", "y": "a/l1/x"},
         "points outside"),
        # absolute, directly or at a hop
        ({"abs": "/etc", "y": "abs/passwd"}, "points outside"),
        ({"y": "/tmp/x"}, "an absolute path"),
        # loops, and chains too deep to end
        ({"a": "b", "b": "a"}, "never ends"),
        ({"self": "self"}, "never ends"),
        ({"a": "a/x"}, "never ends"),
        ({**{f"l{i}": f"l{i + 1}" for i in range(45)}, "l45": "file"}, "never ends"),
        # into .git or onto the directory itself, through another link
        ({"g": ".git", "y": "g/config"}, "points into .git"),
        ({"here": ".", "y": "here"}, "at the directory itself"),
    ],
)
def test_symlinks_are_checked_as_the_os_resolves_them(links: dict[str, str], why: str) -> None:
    with pytest.raises(FormatError) as info:
        manifest.check_links(links, "data")
    assert why in str(info.value)
    assert "\n" not in str(info.value)
    assert info.value.hint


@pytest.mark.parametrize(
    "links",
    [
        {"a/b/c/l": "../../../q", "y": "a/b/c/l/x"},  # the chain, staying inside
        {"deep/er/d": "..", "y": "deep/er/d/../x"},  # d -> deep, then .. -> the top: inside
        {"cur": "d1", "d1/x": "../d2/y", "link": "cur/x"},
        {f"l{i}": f"l{i + 1}" for i in range(38)} | {"l38": "file"},  # 39 links: ends
        {"dangling": "nothing/here"},
    ],
)
def test_symlink_chains_that_stay_inside_are_fine(links: dict[str, str]) -> None:
    manifest.check_links(links, "data")


def test_links_already_in_the_directory_count_too() -> None:
    """A partial checkout leaves the rest of the directory as it is: its links count."""
    on_disk = {"old/l": "../..", "old": None}
    with pytest.raises(FormatError, match="through 'old/l'"):
        manifest.check_links({"new/y": "../old/l/x"}, "data", on_disk.get)
    manifest.check_links({"new/y": "../old/x"}, "data", on_disk.get)
