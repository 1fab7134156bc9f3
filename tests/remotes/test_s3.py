"""The S3 store end to end: real git, hooks and `git mvm` against moto's S3 server on
127.0.0.1 (tests/stores/s3.py), through a fault proxy (tests/faultserver.py) where a test
needs faults the server cannot make.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitmv.remotes import retry
from gitmv.remotes import s3 as s3mod
from gitmv.remotes.base import RemoteError, TransientError, open_store
from tests.faultserver import Faults, FaultServer
from tests.helpers import (
    big_file,
    cache_objects,
    clone_hooked,
    configure,
    dataset_files,
    error_lines,
    git,
    git_ok,
    init_bare,
    init_hooked,
    mvm,
    mvm_proc,
    run,
    save,
    save_dir,
    sha,
    tree_digest,
    write,
)
from tests.storefiles import S3Files, object_ids, read_object
from tests.stores.s3 import REGION, MotoServer, free_port, server, set_aws_env

PREFIX = "models"


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    set_aws_env(monkeypatch)
    monkeypatch.setattr(retry, "BASE_DELAY", 0.01)  # in-process retries: no need to wait long
    return server()


@pytest.fixture
def bucket(moto: MotoServer) -> str:
    return moto.new_bucket()


def add_s3_remote(repo: Path, url: str, endpoint: str, *extra: str) -> None:
    assert mvm(repo, "remote", "add", "-q", "-d", "s3store", url, "--endpoint-url", endpoint,
               "--region", REGION, *extra) == 0
    git(repo, "commit", "-q", "-m", "s3 remote", ".mvm/config.toml")


@pytest.fixture
def alice(tmp_path: Path, moto: MotoServer, bucket: str) -> Path:
    """A hooked repository with a bare origin whose default gitmv remote is the S3 bucket."""
    origin = init_bare(tmp_path / "origin.git")
    repo = init_hooked(tmp_path / "alice", origin)
    add_s3_remote(repo, f"s3://{bucket}/{PREFIX}", moto.endpoint)
    return repo


def bucket_objects(moto: MotoServer, bucket: str, prefix: str = PREFIX) -> dict[str, bytes]:
    """{hex oid: bytes} of every object under `prefix/`: in its packs (store layout 2, the
    default) or loose under `<aa>/<bb>/` (layout 1; the fan-out is checked)."""
    files = S3Files(moto.client(), bucket, f"{prefix}/")
    return {oid: read_object(files, oid) or b"" for oid in object_ids(files)}


def small_parts_store(moto: MotoServer, bucket: str) -> s3mod.S3Store:
    """A store that sends objects of 5 MiB and more in parts of 5 MiB (S3's smallest)."""
    return s3mod.S3Store("s3store", f"s3://{bucket}/{PREFIX}", {
        "endpoint_url": moto.endpoint, "multipart_threshold": "5MiB",
        "multipart_chunksize": "5MiB"})


def one_error(err: str) -> str:
    """The single `git mvm: error:` line of a run, with no traceback anywhere."""
    assert "Traceback" not in err, err
    lines = error_lines(err)
    assert len(lines) == 1, err
    return lines[0]


# --- configuration -------------------------------------------------------------------------


def test_remote_add_writes_the_s3_settings(
    repo: Path, moto: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    res = run(capsys, repo, "remote", "add", "s3store", "s3://bucket/a/b", "--endpoint-url",
              moto.endpoint, "--region", "eu-west-3", "--profile", "team")
    assert res.rc == 0, res.err
    cfg = tomllib.loads((repo / ".mvm" / "config.toml").read_text())
    assert cfg["remote"]["s3store"] == {
        "url": "s3://bucket/a/b", "endpoint_url": moto.endpoint, "region": "eu-west-3",
        "profile": "team",
    }
    assert "AWS_SECRET" not in (repo / ".mvm" / "config.toml").read_text()
    res = run(capsys, repo, "remote", "add", "web", "https://example.invalid/objects",
              "--endpoint-url", moto.endpoint)
    assert res.rc == 2
    assert "s3://" in res.err


def test_store_parses_bucket_and_prefix(moto: MotoServer) -> None:
    store = s3mod.S3Store("r", "s3://bkt//deep/prefix/", {})
    assert (store.bucket, store.prefix) == ("bkt", "deep/prefix/")
    assert store.key("ab" * 32) == f"deep/prefix/ab/ab/{'ab' * 32}"
    assert s3mod.S3Store("r", "s3://bkt", {}).key("cd" * 32) == f"cd/cd/{'cd' * 32}"
    with pytest.raises(RemoteError, match="names no bucket"):
        s3mod.S3Store("r", "s3:///prefix", {})
    with pytest.raises(RemoteError, match="must be a string"):
        s3mod.S3Store("r", "s3://bkt", {"region": 5})


def test_missing_boto3_says_what_to_install(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # as if not installed
    with pytest.raises(RemoteError) as info:
        open_store("s3store", "s3://bucket/prefix", {})
    assert info.value.hint == "pip install 'gitmv[s3]'"
    res = run(capsys, repo, "remote", "add", "s3store", "s3://bucket/prefix")
    assert res.rc == 1
    assert "boto3" in one_error(res.err)
    assert "pip install 'gitmv[s3]'" in res.err


# --- push and pull -------------------------------------------------------------------------


def test_push_and_clone_through_the_hooks(
    alice: Path, tmp_path: Path, moto: MotoServer, bucket: str
) -> None:
    model = os.urandom(50_000)
    save(alice, "models/m.pt", model)
    digest = save_dir(alice, "data/train", dataset_files(n=12), "model and data")
    git_ok(alice, "push", "-q", "-u", "origin", "main")  # the pre-push hook uploads to S3
    stored = bucket_objects(moto, bucket)
    assert set(stored) == set(cache_objects(alice))
    for hexoid, data in stored.items():
        assert sha(data) == hexoid
    assert stored[sha(model)] == model

    assert mvm(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(tmp_path / "bob")) == 0
    bob = tmp_path / "bob"
    assert (bob / "models" / "m.pt").read_bytes() == model
    assert tree_digest(bob / "data" / "train") == digest

    # a new version travels the same way: git push, git pull
    model2 = os.urandom(30_000)
    save(alice, "models/m.pt", model2, "v2")
    git_ok(alice, "push", "-q")
    git_ok(bob, "pull", "-q")  # post-merge hook fetches from S3
    assert (bob / "models" / "m.pt").read_bytes() == model2


def test_push_and_pull_commands(
    alice: Path, tmp_path: Path, moto: MotoServer, bucket: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = os.urandom(10_000)
    save(alice, "models/m.pt", model)
    # more files than HEAD_MAX: the existence check lists instead of HEADing each
    files = dataset_files(n=s3mod.HEAD_MAX + 20, size=64)
    digest = save_dir(alice, "data/big", files, "v1")
    res = run(capsys, alice, "push", "s3store")
    assert res.rc == 0, res.err
    assert f"pushed {len(files) + 2} objects" in res.err
    res = run(capsys, alice, "push", "--remote", "s3store")
    assert "pushed 0 objects" in res.err
    assert f"{len(files) + 2} already there" in res.err

    git_ok(alice, "push", "-q", "--no-verify", "origin", "main")
    bob = clone_hooked(tmp_path / "origin.git", tmp_path / "bob")
    res = run(capsys, bob, "pull", "s3store", "models/m.pt")
    assert res.rc == 0, res.err
    assert (bob / "models" / "m.pt").read_bytes() == model
    assert not (bob / "data" / "big").exists()
    assert mvm(bob, "pull", "-q") == 0
    assert tree_digest(bob / "data" / "big") == digest
    assert set(cache_objects(bob)) == set(cache_objects(alice))


def test_large_file_goes_up_in_parts_and_comes_back_whole(
    alice: Path, tmp_path: Path, moto: MotoServer, bucket: str
) -> None:
    configure(alice, "remote.s3store", "packs = false")  # (layout 1: loose S3 objects)
    configure(alice, "remote.s3store", 'multipart_threshold = "8MiB"')
    configure(alice, "remote.s3store", 'multipart_chunksize = "5MiB"')
    git(alice, "commit", "-q", "-m", "multipart", ".mvm/config.toml")
    hexoid = big_file(alice / "models" / "big.bin", 20)
    assert mvm(alice, "add", "-q", "models/big.bin") == 0
    git_ok(alice, "commit", "-q", "-m", "big")
    assert mvm(alice, "push", "-q") == 0
    head = moto.client().head_object(Bucket=bucket, Key=f"{PREFIX}/{hexoid[:2]}/{hexoid[2:4]}/"
                                     f"{hexoid}")
    assert head["ContentLength"] == 20 << 20
    assert head["ETag"].strip('"').endswith("-4")  # four 5 MiB parts: a multipart upload

    git_ok(alice, "push", "-q", "origin", "main")
    bob = clone_hooked(tmp_path / "origin.git", tmp_path / "bob")
    assert mvm(bob, "pull", "-q") == 0
    h = hashlib.sha256((bob / "models" / "big.bin").read_bytes()).hexdigest()
    assert h == hexoid


def test_failed_multipart_upload_leaves_nothing_under_the_key(
    moto: MotoServer, bucket: str, tmp_path: Path
) -> None:
    store = small_parts_store(moto, bucket)
    path = tmp_path / "big.bin"
    hexoid = big_file(path, 16)

    def boom(params: dict[str, Any], **_: Any) -> None:
        if params.get("PartNumber") == 3:
            raise ConnectionResetError("cut")

    part_client = store._transfer_manager().client
    part_client.meta.events.register("before-parameter-build.s3.UploadPart", boom)
    with open(path, "rb") as f, pytest.raises(RemoteError):
        store.upload(hexoid, path.stat().st_size, f)
    assert store.exists_many([hexoid]) == set()
    client = moto.client()
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []  # aborted

    part_client.meta.events.unregister("before-parameter-build.s3.UploadPart", boom)
    with open(path, "rb") as f:
        store.upload(hexoid, path.stat().st_size, f)
    assert store.exists_many([hexoid]) == {hexoid}


def test_interrupted_download_resumes_with_a_range(
    alice: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(alice, "remote.s3store", "packs = false")  # (layout 1: loose S3 objects)
    model = os.urandom(300_000)
    save(alice, "models/m.pt", model, "model")
    git_ok(alice, "push", "-q", "origin", "main")
    bob = clone_hooked(tmp_path / "origin.git", tmp_path / "bob")
    tmp = bob / ".git" / "mvm" / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    from gitmv.objects.cache import Cache

    partial = Path(Cache(str(bob / ".git" / "mvm" / "objects"), str(tmp)).partial_path(sha(model)))
    partial.write_bytes(model[:100_000])  # what an interrupted fetch left

    seen: list[tuple[int, int]] = []
    real = s3mod.S3Store.open_download

    def spy(self: s3mod.S3Store, oid: str, offset: int = 0) -> Any:
        stream, start = real(self, oid, offset)
        seen.append((offset, start))
        return stream, start

    monkeypatch.setattr(s3mod.S3Store, "open_download", spy)
    assert mvm(bob, "pull", "-q") == 0
    assert (bob / "models" / "m.pt").read_bytes() == model
    assert seen == [(100_000, 100_000)]


def test_gc_remote_deletes_only_what_nothing_names(
    alice: Path, moto: MotoServer, bucket: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from gitmv.transfer import engine

    model = os.urandom(3000)
    save(alice, "models/m.pt", model)
    save_dir(alice, "data/train", dataset_files(n=5), "v1")
    git_ok(alice, "push", "-q", "-u", "origin", "main")
    stray = os.urandom(100)  # an object no commit names
    moto.client().put_object(Bucket=bucket, Key=f"{PREFIX}/{sha(stray)[:2]}/{sha(stray)[2:4]}/"
                             f"{sha(stray)}", Body=stray)
    moto.client().put_object(Bucket=bucket, Key=f"{PREFIX}/README", Body=b"not an object")
    monkeypatch.setattr(engine, "GRACE_SECONDS", -60)  # as if every object were an hour old
    needed = set(cache_objects(alice))
    assert mvm(alice, "gc", "-q", "--dry-run", "--remote", "s3store") == 0
    assert set(bucket_objects(moto, bucket)) == needed | {sha(stray)}
    res = run(capsys, alice, "gc", "--remote", "s3store")
    assert res.rc == 0, res.err
    assert set(bucket_objects(moto, bucket)) == needed
    assert moto.client().get_object(Bucket=bucket, Key=f"{PREFIX}/README")["Body"].read()


# --- existence checks ----------------------------------------------------------------------


def _fill(store: s3mod.S3Store, count: int) -> list[str]:
    oids = []
    for i in range(count):
        data = b"object %d" % i
        oids.append(sha(data))
        store.upload(oids[-1], len(data), io.BytesIO(data))
    return oids


def _count_calls(store: s3mod.S3Store) -> dict[str, int]:
    calls: dict[str, int] = {}

    def count(model: Any, **_: Any) -> None:
        calls[model.name] = calls.get(model.name, 0) + 1

    store._client().meta.events.register("before-call.s3", count)
    return calls


def test_few_objects_are_headed_many_are_listed(moto: MotoServer, bucket: str) -> None:
    store = s3mod.S3Store("s3store", f"s3://{bucket}/{PREFIX}", {"endpoint_url": moto.endpoint})
    present = _fill(store, 150)
    absent = [sha(b"absent %d" % i) for i in range(150)]
    calls = _count_calls(store)
    few = present[:5] + absent[:5]
    assert store.exists_many(few) == set(present[:5])
    assert calls == {"HeadObject": 10}

    calls.clear()
    assert store.exists_many(present + absent) == set(present)
    assert calls.get("HeadObject", 0) == 0
    assert 1 <= calls["ListObjectsV2"] <= 17  # the size probe, then one page per hex digit


def test_a_store_much_larger_than_the_query_is_headed(
    moto: MotoServer, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = s3mod.S3Store("s3store", f"s3://{bucket}/{PREFIX}", {"endpoint_url": moto.endpoint})
    present = _fill(store, 300)
    query = present[:40] + [sha(b"absent %d" % i) for i in range(40)]
    monkeypatch.setattr(s3mod, "HEAD_MAX", 10)
    monkeypatch.setattr(s3mod, "KEYS_PER_HEAD", 0.01)  # listing a key costs more than a HEAD
    calls = _count_calls(store)
    assert store.exists_many(query) == set(present[:40])
    assert calls["ListObjectsV2"] == 1  # the probe only
    assert calls["HeadObject"] <= 80


def test_a_listing_over_budget_heads_the_rest(
    moto: MotoServer, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = s3mod.S3Store("s3store", f"s3://{bucket}/{PREFIX}", {"endpoint_url": moto.endpoint})
    present = _fill(store, 300)
    query = present[::3] + [sha(b"absent %d" % i) for i in range(100)]
    monkeypatch.setattr(s3mod, "LIST_PAGE", 7)
    monkeypatch.setattr(s3mod, "KEYS_PER_HEAD", 1)  # each group may read 2 keys per oid
    calls = _count_calls(store)
    assert set(store._list_many(query)) == set(present[::3])
    assert calls["ListObjectsV2"] > 16  # several short pages per group
    assert 0 < calls["HeadObject"] < len(query)  # what the pages did not reach


# --- errors a person can act on ------------------------------------------------------------


@pytest.fixture
def published(alice: Path, tmp_path: Path) -> tuple[Path, Path]:
    """alice pushed a model and a dataset; bob cloned without the bytes."""
    save(alice, "models/m.pt", os.urandom(2000))
    save_dir(alice, "data/train", dataset_files(n=4), "v1")
    git_ok(alice, "push", "-q", "-u", "origin", "main")
    bob = clone_hooked(tmp_path / "origin.git", tmp_path / "bob")
    write(alice / "models" / "m.pt", os.urandom(2000))  # something new to push
    assert mvm(alice, "add", "-q", "models/m.pt") == 0
    return alice, bob


def set_remote(repo: Path, key: str, value: str) -> None:
    cfg = repo / ".mvm" / "config.toml"
    text = cfg.read_text()
    lines = [ln for ln in text.splitlines() if not ln.startswith(f"{key} =")]
    cfg.write_text("\n".join(lines) + "\n")
    configure(repo, "remote.s3store", f'{key} = "{value}"')


def check_push_and_pull(repo_pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str],
                        *expect: str) -> None:
    for repo, cmd in zip(repo_pair, ("push", "pull"), strict=True):
        res = run(capsys, repo, cmd)
        assert res.rc == 1, res.err
        line = one_error(res.err)
        assert "remote 's3store'" in line, line
        for text in expect:
            assert text in res.err, res.err


@pytest.fixture
def auth_moto(monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    return server(auth=True)


def point_at(pair: tuple[Path, Path], url: str, endpoint: str) -> None:
    for repo in pair:
        set_remote(repo, "url", url)
        set_remote(repo, "endpoint_url", endpoint)


def test_wrong_access_key(published: tuple[Path, Path], auth_moto: MotoServer,
                          monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    bucket = auth_moto.new_bucket()
    point_at(published, f"s3://{bucket}/{PREFIX}", auth_moto.endpoint)
    set_aws_env(monkeypatch, "AKIANOTAREALKEY00000", "whatever")
    check_push_and_pull(published, capsys, "credentials were refused (InvalidAccessKeyId)",
                        "hint: check the access key")


def test_wrong_secret(published: tuple[Path, Path], auth_moto: MotoServer,
                      monkeypatch: pytest.MonkeyPatch,
                      capsys: pytest.CaptureFixture[str]) -> None:
    bucket = auth_moto.new_bucket()
    point_at(published, f"s3://{bucket}/{PREFIX}", auth_moto.endpoint)
    set_aws_env(monkeypatch, auth_moto.keys["writer"][0], "not-the-secret")
    check_push_and_pull(published, capsys, "credentials were refused (SignatureDoesNotMatch)")


def test_right_credentials_on_the_checking_server_work(
    published: tuple[Path, Path], auth_moto: MotoServer, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bucket = auth_moto.new_bucket()
    point_at(published, f"s3://{bucket}/{PREFIX}", auth_moto.endpoint)
    set_aws_env(monkeypatch, *auth_moto.keys["writer"])
    alice, _ = published
    res = run(capsys, alice, "push")
    assert res.rc == 0, res.err


def test_permission_denied(published: tuple[Path, Path], auth_moto: MotoServer,
                           monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    bucket = auth_moto.new_bucket()
    point_at(published, f"s3://{bucket}/{PREFIX}", auth_moto.endpoint)
    set_aws_env(monkeypatch, *auth_moto.keys["nobody"])
    check_push_and_pull(published, capsys, "permission denied", "s3:GetObject")


def test_no_credentials(published: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    check_push_and_pull(published, capsys, "no AWS credentials found", "AWS_PROFILE")


def test_unknown_profile(published: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
                         ) -> None:
    for repo in published:
        set_remote(repo, "profile", "nosuchprofile")
    check_push_and_pull(published, capsys, "AWS profile 'nosuchprofile' not found")


def test_no_such_bucket(published: tuple[Path, Path], moto: MotoServer,
                        capsys: pytest.CaptureFixture[str]) -> None:
    point_at(published, "s3://no-such-bucket-here/models", moto.endpoint)
    check_push_and_pull(published, capsys, "no bucket named 'no-such-bucket-here'",
                        "aws s3 mb s3://no-such-bucket-here")


def test_endpoint_unreachable(published: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
                              ) -> None:
    alice, _ = published
    url = tomllib.loads((alice / ".mvm" / "config.toml").read_text())["remote"]["s3store"]["url"]
    point_at(published, url, f"http://127.0.0.1:{free_port()}")
    check_push_and_pull(published, capsys, "cannot reach http://127.0.0.1:",
                        "gave up after 5 attempts", "endpoint_url")


def test_errors_from_a_real_process_are_one_line(
    published: tuple[Path, Path], moto: MotoServer
) -> None:
    point_at(published, "s3://no-such-bucket-here/models", moto.endpoint)
    for repo, cmd in zip(published, ("push", "pull"), strict=True):
        proc = mvm_proc(repo, cmd)
        assert proc.returncode == 1, proc.stderr
        assert "no bucket named" in one_error(proc.stderr)


# --- faults the server cannot make: a proxy in front of moto -------------------------------


@pytest.fixture
def proxy(moto: MotoServer) -> Iterator[FaultServer]:
    with FaultServer(upstream=moto.endpoint) as p:
        yield p


def proxied_store(proxy: FaultServer, bucket: str) -> s3mod.S3Store:
    return s3mod.S3Store("s3store", f"s3://{bucket}/{PREFIX}", {"endpoint_url": proxy.url})


def test_slow_down_then_success_is_retried(proxy: FaultServer, bucket: str,
                                           tmp_path: Path) -> None:
    from gitmv.objects.cache import Cache
    from gitmv.transfer.engine import download, upload

    cache = Cache(str(tmp_path / "cache"), str(tmp_path / "tmp"))
    data = os.urandom(5000)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    cache.put_file(str(path))
    store = proxied_store(proxy, bucket)
    proxy.faults = Faults(fail_first=2, fail_status=503, fail_methods=frozenset({"PUT"}),
                          retry_after="0")
    result = upload(cache, store, [[sha(data)]])
    assert result.failed == [] and result.transferred == [sha(data)]
    assert [r.status for r in proxy.requests("PUT")] == [503, 503, 200]

    fresh = Cache(str(tmp_path / "cache2"), str(tmp_path / "tmp2"))
    proxy.faults = Faults(fail_first=1, fail_status=429, fail_methods=frozenset({"GET"}),
                          retry_after="0")
    result = download(fresh, store, [sha(data)])
    assert result.failed == []
    assert fresh.has(sha(data))


def test_body_cut_mid_download_resumes_from_where_it_stopped(
    proxy: FaultServer, bucket: str, tmp_path: Path
) -> None:
    from gitmv.objects.cache import Cache
    from gitmv.transfer.engine import download

    data = os.urandom(400_000)
    store = proxied_store(proxy, bucket)
    store.upload(sha(data), len(data), io.BytesIO(data))
    cache = Cache(str(tmp_path / "cache"), str(tmp_path / "tmp"))
    proxy.faults = Faults(drop_after=150_000)
    result = download(cache, store, [sha(data)])
    assert result.failed == []
    with open(cache.oid_to_path(sha(data)), "rb") as f:
        assert f.read() == data
    gets = proxy.requests("GET")
    assert len(gets) == 2
    assert gets[0].range is None
    assert gets[1].range is not None and gets[1].range.startswith("bytes=")
    assert int(gets[1].range[6:].rstrip("-")) > 0  # resumed, not restarted


def test_corrupt_bytes_never_reach_the_cache(proxy: FaultServer, bucket: str,
                                             tmp_path: Path) -> None:
    from gitmv.objects.cache import Cache
    from gitmv.transfer.engine import download

    data = os.urandom(10_000)
    store = proxied_store(proxy, bucket)
    store.upload(sha(data), len(data), io.BytesIO(data))
    cache = Cache(str(tmp_path / "cache"), str(tmp_path / "tmp"))
    proxy.faults = Faults(corrupt=True)
    result = download(cache, store, [sha(data)])
    assert [oid for oid, _ in result.failed] == [sha(data)]
    assert "corrupt" in result.failed[0][1]
    assert not cache.has(sha(data))


def test_error_mapping_of_answers_moto_does_not_give() -> None:
    from botocore.exceptions import ClientError

    store = s3mod.S3Store("s3store", "s3://bucket/p", {})

    def answer(code: str, status: int, headers: dict[str, str] | None = None) -> RemoteError:
        exc = ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {
            "HTTPStatusCode": status, "HTTPHeaders": headers or {}}}, "PutObject")
        return store._error(exc, "upload", "p/k")

    slow = answer("SlowDown", 503, {"retry-after": "3"})
    assert isinstance(slow, TransientError) and slow.retry_after == 3.0
    assert not slow.store_wide
    assert isinstance(answer("InternalError", 500), TransientError)
    assert isinstance(answer("", 429), TransientError)
    assert isinstance(answer("RequestTimeout", 400), TransientError)
    moved = answer("PermanentRedirect", 301, {"x-amz-bucket-region": "eu-west-1"})
    assert not isinstance(moved, TransientError) and moved.store_wide
    assert "eu-west-1" in moved.message and moved.hint and 'region = "eu-west-1"' in moved.hint
    expired = answer("ExpiredToken", 400)
    assert "credentials were refused" in expired.message
    other = answer("EntityTooLarge", 400)
    assert not isinstance(other, TransientError) and not other.store_wide
    assert "EntityTooLarge" in other.message


def test_a_large_upload_starts_where_the_file_object_stands(
    moto: MotoServer, bucket: str, tmp_path: Path
) -> None:
    """A multipart upload reads the file by its path only when that gives the same bytes: a
    file object moved past a header sends what follows it, as every store does."""
    store = small_parts_store(moto, bucket)
    payload = os.urandom(6 << 20)
    path = tmp_path / "framed.bin"
    path.write_bytes(b"a header of 24 bytes...." + payload)
    oid = sha(payload)
    with open(path, "rb") as f:
        f.seek(24)
        store.upload(oid, len(payload), f)
    assert bucket_objects(moto, bucket)[oid] == payload
    with open(path, "rb") as f:  # from its start, the path serves (parts read from disk)
        assert s3mod._path_of(f) == str(path)
        f.seek(1)
        assert s3mod._path_of(f) is None


# --- what is sent is checked by S3 too; what it keeps is read back -------------------------


def test_a_put_carries_its_sha256_and_the_store_keeps_it(moto: MotoServer, bucket: str) -> None:
    store = s3mod.S3Store("s3store", f"s3://{bucket}/{PREFIX}", {"endpoint_url": moto.endpoint})
    data = os.urandom(10_000)
    store.upload(sha(data), len(data), io.BytesIO(data))
    head = moto.client().head_object(Bucket=bucket, Key=store.key(sha(data)),
                                      ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == s3mod._b64(sha(data))
    assert store.stat_many([sha(data)], checksums=True)[sha(data)].sha256 == sha(data)
    assert store.stat_many([sha(data)])[sha(data)].size == len(data)


def test_a_corrupt_source_is_refused_before_anything_is_sent(
    moto: MotoServer, bucket: str, tmp_path: Path
) -> None:
    from gitmv.errors import ObjectCorrupt

    store = small_parts_store(moto, bucket)
    for size in (1000, 9 << 20):  # from memory, and a multipart upload from the file
        data = os.urandom(size)
        path = tmp_path / f"obj{size}"
        path.write_bytes(data[:-1] + b"!")
        with open(path, "rb") as f, pytest.raises(ObjectCorrupt):
            store.upload(sha(data), size, f)
        assert sha(data) not in bucket_objects(moto, bucket)


def test_a_server_that_refuses_the_checksum_header_gets_uploads_without_it(
    moto: MotoServer, bucket: str
) -> None:
    with FaultServer(upstream=moto.endpoint,
                     faults=Faults(refuse_header="x-amz-checksum-sha256")) as proxy:
        store = proxied_store(proxy, bucket)
        objs = [os.urandom(3000) for _ in range(3)]
        for data in objs:
            store.upload(sha(data), len(data), io.BytesIO(data))
        puts = proxy.requests("PUT")
    assert [p.status for p in puts] == [501, 200, 200, 200]  # asked once, then left out
    assert {sha(d) for d in objs} <= set(bucket_objects(moto, bucket))


def test_fsck_verify_reads_the_stores_checksum_and_downloads_only_the_rest(
    moto: MotoServer, bucket: str, alice: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(alice, "remote.s3store", "packs = false")  # (layout 1: loose S3 objects)
    first = os.urandom(30_000)
    second = os.urandom(30_000)
    save(alice, "a.pt", first)
    save(alice, "b.pt", second, "models")
    assert run(capsys, alice, "push").rc == 0
    # another tool put b.pt's bytes back without a checksum: only a download can tell
    moto.client().put_object(Bucket=bucket, Key=f"{PREFIX}/{sha(second)[:2]}/"
                             f"{sha(second)[2:4]}/{sha(second)}", Body=second)
    with FaultServer(upstream=moto.endpoint) as proxy:
        cfg = alice / ".mvm" / "config.toml"
        cfg.write_text(cfg.read_text().replace(moto.endpoint, proxy.url))
        res = run(capsys, alice, "fsck", "--remote", "--verify")
        gets = [r.path for r in proxy.requests("GET")]
    assert res.rc == 0, res.out + res.err
    names = [p.rsplit("/", 1)[-1] for p in gets if "/" + PREFIX + "/" in p]
    assert names.count("mvm-layout") <= 1  # (the store's layout, read once per command)
    assert [n for n in names if n != "mvm-layout"] == [sha(second)]


def test_a_killed_multipart_upload_of_the_key_is_aborted_by_the_next_one(
    moto: MotoServer, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = small_parts_store(moto, bucket)
    data = os.urandom(6 << 20)
    key = store.key(sha(data))
    client = moto.client()
    left = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    client.upload_part(Bucket=bucket, Key=key, UploadId=left, PartNumber=1,
                       Body=data[: 5 << 20])
    monkeypatch.setattr(s3mod, "MULTIPART_STALE_AFTER", 0.0)  # "a day" has passed
    store.upload(sha(data), len(data), io.BytesIO(data))
    ongoing = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [u["UploadId"] for u in ongoing] == []
    assert bucket_objects(moto, bucket)[sha(data)] == data


# --- a refresh (a copy onto itself, so that gc --remote keeps what a push relies on) -------


def _checksum_kept(moto: MotoServer, bucket: str, store: s3mod.S3Store, oid: str) -> str | None:
    head = moto.client().head_object(Bucket=bucket, Key=store.key(oid), ChecksumMode="ENABLED")
    return head.get("ChecksumSHA256")


def test_a_refresh_too_large_to_copy_whole_goes_in_parts_and_switches_nothing_off(
    moto: MotoServer, bucket: str
) -> None:
    """CopyObject stops at 5 GB, and S3 says so with InvalidRequest, a code other servers
    give for a checksum header they refuse. The refresh copies such an object in parts, with
    the checksum asked for again; later uploads still carry theirs (a 1 KB multipart
    threshold and a proxy that refuses every whole copy stand in for 5 GB)."""
    first, later = os.urandom(3000), os.urandom(500)  # (`later`: one PUT, under 1 KB)
    with FaultServer(upstream=moto.endpoint, faults=Faults(copy_too_large=True)) as proxy:
        store = s3mod.S3Store("s3store", f"s3://{bucket}/{PREFIX}", {
            "endpoint_url": proxy.url, "multipart_threshold": "1KB"})
        store.upload(sha(first), len(first), io.BytesIO(first))
        assert store.refresh([sha(first), sha(b"absent")]) == {sha(first)}
        store.upload(sha(later), len(later), io.BytesIO(later))
        copies = [r for r in proxy.requests("PUT") if sha(first) in r.path and r.path != "/"]
    assert store.checksums
    assert [r.status for r in copies][:2] == [200, 400]  # the upload, the refused copy
    assert all(r.status == 200 and "partNumber=" in r.path for r in copies[2:]) and copies[2:]
    assert bucket_objects(moto, bucket)[sha(first)] == first
    assert _checksum_kept(moto, bucket, store, sha(first)) is not None  # asked for again
    assert _checksum_kept(moto, bucket, store, sha(later)) == s3mod._b64(sha(later))


def test_a_refresh_whose_checksum_is_refused_is_copied_without_it_once(
    moto: MotoServer, bucket: str
) -> None:
    """A server that answers InvalidRequest to the checksum of a copy (of an object well under
    5 GB) gets that copy again without it; uploads go on asking for theirs."""
    data, later = os.urandom(3000), os.urandom(3000)
    plain = s3mod.S3Store("s3store", f"s3://{bucket}/{PREFIX}", {"endpoint_url": moto.endpoint})
    plain.upload(sha(data), len(data), io.BytesIO(data))
    with FaultServer(upstream=moto.endpoint, faults=Faults(
            refuse_header="x-amz-checksum-algorithm", refuse_status=400,
            refuse_code="InvalidRequest")) as proxy:
        store = proxied_store(proxy, bucket)
        assert store.refresh([sha(data)]) == {sha(data)}
        assert store.checksums
        store.upload(sha(later), len(later), io.BytesIO(later))
        copies = [r.status for r in proxy.requests("PUT") if sha(data) in r.path]
    assert copies == [400, 200]
    assert bucket_objects(moto, bucket)[sha(data)] == data
    assert _checksum_kept(moto, bucket, store, sha(later)) == s3mod._b64(sha(later))


def test_a_refresh_keeps_the_stores_checksum(moto: MotoServer, bucket: str) -> None:
    """The ordinary refresh (CopyObject onto itself) keeps what fsck --remote --verify reads."""
    store = s3mod.S3Store("s3store", f"s3://{bucket}/{PREFIX}", {"endpoint_url": moto.endpoint})
    data = os.urandom(3000)
    store.upload(sha(data), len(data), io.BytesIO(data))
    assert store.refresh([sha(data)]) == {sha(data)}
    assert store.stat_many([sha(data)], checksums=True)[sha(data)].sha256 == sha(data)
    assert store.checksums
