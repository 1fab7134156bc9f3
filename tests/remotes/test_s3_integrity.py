"""S3 specifics of a store's integrity, against moto's S3 server on 127.0.0.1: what a
multipart upload's checksum is (and is not), what a push's refresh costs, and the
multipart uploads a killed push leaves.
"""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

import pytest

from gitmv.remotes import retry
from tests.helpers import big_file, configure, git, git_ok, init_bare, init_hooked, mvm, run
from tests.stores.s3 import REGION, MotoServer, server, set_aws_env

PREFIX = "models"
MIB = 1 << 20


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    set_aws_env(monkeypatch)
    monkeypatch.setattr(retry, "BASE_DELAY", 0.01)
    return server()


@pytest.fixture
def bucket(moto: MotoServer) -> str:
    return moto.new_bucket()


@pytest.fixture
def alice(tmp_path: Path, moto: MotoServer, bucket: str) -> Path:
    """A hooked repository whose default remote is the bucket, multipart from 5 MiB on."""
    repo = init_hooked(tmp_path / "alice", init_bare(tmp_path / "origin.git"))
    assert mvm(repo, "remote", "add", "-q", "-d", "s3store", f"s3://{bucket}/{PREFIX}",
               "--endpoint-url", moto.endpoint, "--region", REGION) == 0
    configure(repo, "remote.s3store", 'multipart_threshold = "5MiB"')
    configure(repo, "remote.s3store", 'multipart_chunksize = "5MiB"')
    configure(repo, "remote.s3store", "packs = false")  # (S3's checksums of loose objects)
    git(repo, "commit", "-q", "-m", "s3 remote", ".mvm/config.toml")
    return repo


def key(oid: str) -> str:
    return f"{PREFIX}/{oid[:2]}/{oid[2:4]}/{oid}"


def multipart_put(moto: MotoServer, bucket: str, oid: str, data: bytes) -> None:
    """Hold `data` under the object's key, sent in 5 MiB parts with SHA256 part checksums
    (what gitmv's own multipart upload leaves: a checksum of the parts' checksums)."""
    from boto3.s3.transfer import TransferConfig

    moto.client().upload_fileobj(
        io.BytesIO(data), bucket, key(oid), ExtraArgs={"ChecksumAlgorithm": "SHA256"},
        Config=TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB))


def test_fsck_verify_does_not_take_a_multipart_checksum_for_the_objects_sha256(
    alice: Path, moto: MotoServer, bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A multipart object's ChecksumSHA256 is a checksum of its parts' checksums (on AWS
    `…-N`, ChecksumType COMPOSITE; moto says neither, only the ETag's `-N` tells): never an
    object's sha256. fsck --verify downloads and hashes such an object instead, so a sound
    one passes and one with other bytes is still found."""
    oid = big_file(alice / "big.bin", 11)
    assert mvm(alice, "add", "-q", "big.bin") == 0
    git_ok(alice, "commit", "-q", "-m", "big")
    assert mvm(alice, "push", "-q") == 0
    head = moto.client().head_object(Bucket=bucket, Key=key(oid), ChecksumMode="ENABLED")
    assert head["ETag"].strip('"').endswith("-3")  # really sent in parts
    assert head.get("ChecksumSHA256")  # with a checksum that is not the object's sha256

    res = run(capsys, alice, "fsck", "--remote", "--verify")
    assert res.rc == 0, res.out + res.err

    data = (alice / "big.bin").read_bytes()
    multipart_put(moto, bucket, oid, bytes([data[0] ^ 1]) + data[1:])
    res = run(capsys, alice, "fsck", "--remote", "--verify", "--json")
    assert res.rc == 1
    problems = json.loads(res.out)["remote"]["problems"]
    assert [(p["oid"], p["problem"]) for p in problems] == [(f"sha256:{oid}", "corrupt")]
    res = run(capsys, alice, "push", "--full")  # and a push --full replaces it
    assert res.rc == 0, res.err
    assert "replaced 1 object it held wrong" in res.err, res.err
    assert run(capsys, alice, "fsck", "--remote", "--verify").rc == 0


@pytest.mark.parametrize("command", [["fsck", "--remote", "--repair"], ["gc", "--remote"]])
def test_stale_multipart_uploads_are_aborted_and_reported(
    alice: Path, moto: MotoServer, bucket: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    """A push killed in a multipart upload leaves invisible parts that cost storage:
    `fsck --remote --repair` and `gc --remote` abort those of the store's prefix once they
    are a day old (ListMultipartUploads), saying how many and how large; a younger one,
    perhaps still being sent, stays. (moto dates every upload 2010-11-10, so "younger" is
    made here by lengthening the day.)"""
    from gitmv.remotes import s3 as s3mod

    save_model = os.urandom(3000)
    (alice / "m.pt").write_bytes(save_model)
    assert mvm(alice, "add", "-q", "m.pt") == 0
    git_ok(alice, "commit", "-q", "-m", "model")
    git_ok(alice, "push", "-q", "origin", "main")
    client = moto.client()
    upload = client.create_multipart_upload(Bucket=bucket, Key=key("ab" * 32))
    client.upload_part(Bucket=bucket, Key=key("ab" * 32), UploadId=upload["UploadId"],
                       PartNumber=1, Body=b"p" * (5 * MIB))
    elsewhere = client.create_multipart_upload(Bucket=bucket, Key="other-project/x")

    with monkeypatch.context() as mp:
        mp.setattr(s3mod, "MULTIPART_STALE_AFTER", time.time() + 3600)  # not old enough
        res = run(capsys, alice, *command)
    assert res.rc == 0, res.out + res.err
    assert "temp file" not in res.err
    assert len(client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])) == 2

    res = run(capsys, alice, *command)
    assert res.rc == 0, res.out + res.err
    assert "removed 1 dead upload temp file (5.2 MB)" in res.err, res.err
    left = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [u["UploadId"] for u in left] == [elsewhere["UploadId"]]  # not under the prefix


@pytest.mark.parametrize("old", [False, True])
def test_a_push_refreshes_only_what_is_older_than_the_refresh_age(
    alice: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    old: bool
) -> None:
    """A push relies on the objects it finds on the store, and refreshes (a CopyObject onto
    itself) only those older than `refresh_after()`: their age comes from the existence
    check itself (a listing's or a HEAD's LastModified), so pushing what was just pushed
    copies nothing, and an old dataset costs one copy per object, once."""
    from gitmv.remotes.s3 import S3Store
    from gitmv.transfer import engine
    from tests.helpers import save_dir

    save_dir(alice, "data", {f"f{i}.bin": os.urandom(100 + i) for i in range(150)}, "data")
    assert mvm(alice, "push", "-q") == 0
    copied: list[str] = []
    real = S3Store._refresh

    def counted(self: S3Store, oid: str) -> bool:
        copied.append(oid)
        return real(self, oid)

    monkeypatch.setattr(S3Store, "_refresh", counted)
    if old:  # every object is older than the refresh age (and the push is not a long one,
        # which refreshes all again at its end: sync's own check keeps the real age)
        monkeypatch.setattr(engine, "refresh_after", lambda: 0.0)
    res = run(capsys, alice, "push", "--all-commits", "--full")
    assert res.rc == 0, res.err
    assert len(copied) == (151 if old else 0), len(copied)  # 150 files and the manifest
    assert len(set(copied)) == len(copied)
