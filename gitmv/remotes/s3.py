"""An S3-compatible store (`s3://bucket/prefix`): AWS S3, MinIO, Ceph RGW, Cloudflare R2, GCS
interop. Objects live under `<prefix>/<aa>/<bb>/<hex>`, the cache layout.

Settings (the remote's table in config.toml): `endpoint_url`, `region`, `profile`; optional
`multipart_threshold`, `multipart_chunksize` (sizes like "64MiB"), `addressing_style` and
`checksums` (false: send no x-amz-checksum-sha256).
Credentials come from the standard AWS chain (environment, `profile`, ~/.aws, instance roles):
gitmv never stores them. boto3 (the `s3` extra) is imported here only, when first needed.

No partial object is ever visible: an S3 PUT, and the CompleteMultipartUpload that ends a
multipart upload, are atomic per key. A key shows either nothing or the complete object, so we
write straight to the final key (no temp keys to rename or clean up). An interrupted multipart
upload leaves only invisible parts, which s3transfer aborts on failure; a killed process can
leave some, which a bucket lifecycle rule (AbortIncompleteMultipartUpload) removes, and which
the next multipart upload of the same key, or `clean_temps` (`fsck --remote --repair`,
`gc --remote`), aborts once they are MULTIPART_STALE_AFTER old.

What is sent is verified twice: gitmv hashes the cache file before it sends it (a corrupt one
is refused: ObjectCorrupt, nothing sent), and the store checks what arrives: a single PUT
carries `ChecksumSHA256` (the oid itself, base64), which S3 checks against the bytes it
received and refuses on a mismatch; a multipart upload carries a SHA256 for every part. A
server that refuses the header (NotImplemented, InvalidArgument) gets uploads without it
from then on.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any, BinaryIO, TypeVar, cast

from gitmv import ui
from gitmv.errors import GitMvmError, ObjectCorrupt
from gitmv.remotes.retry import (
    RemoteError,
    TransientError,
    is_transient_status,
    parse_retry_after,
)
from gitmv.remotes.stored import Stored, byte_range

T = TypeVar("T")

# Existence checks: parallel HEADs cost the query's size, a listing costs the store's size.
# Measured against moto's server on loopback (2 cores; scripts/s3_exists_crossover.py), with
# half of the queried objects present:
#   one HEAD 2.2-3.1 ms in parallel; one key listed 0.22-0.29 ms: a listed key costs 1/9-1/12
#   of a HEAD (KEYS_PER_HEAD), so listing wins once the query exceeds ~1/12 of the store.
#   store of  1,000: HEADs vs listing  64: 165/228 ms   96: 272/235 ms   1,000: 2.9 s/0.23 s
#   store of  5,000:                  256: 756/1042 ms 512: 1.43 s/0.98 s  5,000: 11.5 s/1.1 s
#   store of 20,000:                1,000: 2.1 s/2.8 s 2,000: 3.8 s/2.9 s 20,000: 42 s/3.4 s
# So: up to HEAD_MAX objects, HEAD them (the crossover on a small store is ~64-96). Above it,
# list one `<aa>/` sub-prefix (1/256 of the store) to estimate the store's size and HEAD if the
# query is under 1/KEYS_PER_HEAD of it; else list the 16 `<prefix><h>` sub-prefixes in
# parallel, each for at most twice the keys its HEADs would be worth, and HEAD what is left.
# The choice came within ~1.1x of the better way at every size above (a no-op check of
# 20,000 objects: 3.2 s instead of 42 s). On AWS S3 a listed key is relatively cheaper still.
HEAD_MAX = 64
KEYS_PER_HEAD = 12
LIST_PAGE = 1000
EXISTS_THREADS = 16
EXISTS_BATCH = 100_000  # the engine may hand us this many at once: one listing serves all

# Connections: the engine's jobs (default 8, `-j N`) plus EXISTS_THREADS checks share one
# client (boto3 clients are thread-safe); urllib3 opens extra connections past the pool
# rather than blocking, so this only bounds how many stay open for reuse.
POOL_CONNECTIONS = 64
# Multipart (boto3's transfer manager, one shared by all jobs): parts of an open file are read
# into memory, so memory is bounded by MULTIPART_MEMORY_CHUNKS x chunk size for the whole
# process, whatever the number of jobs.
MULTIPART_THRESHOLD = 64 * 1024 * 1024
MULTIPART_CHUNKSIZE = 8 * 1024 * 1024
MULTIPART_THREADS = 8
MULTIPART_MEMORY_CHUNKS = 6
# Killed multipart uploads of a key older than this are aborted by its next multipart upload
# (a live one of a large object on a slow link can take hours; a lifecycle rule does the rest).
MULTIPART_STALE_AFTER = 24 * 3600.0
# CopyObject copies objects up to 5 GiB; a larger one is copied in parts (UploadPartCopy).
COPY_MAX = 5 * 1024 * 1024 * 1024
# Objects up to this size are read into memory once, hashed, and sent from there.
SMALL_PUT = 8 * 1024 * 1024
HASH_BUFSIZE = 8 * 1024 * 1024
# what a server that does not know x-amz-checksum-* answers to it
_NO_CHECKSUM_CODES = {"NotImplemented", "InvalidArgument", "InvalidRequest",
                      "UnsupportedHeader"}

# botocore's own retries. Single requests: none (max_attempts 1 = one attempt): the transfer
# engine retries every operation with backoff and jitter, honours Retry-After (botocore does
# not), and bounds the total; retries on both levels would multiply (5 x N attempts, and
# minutes before an unreachable endpoint is reported). Multipart uploads get 3 attempts per
# part on their own client, so a blip on part 400 of 600 does not restart a 5 GB upload.
SINGLE_ATTEMPTS = 1
PART_ATTEMPTS = 3

_CREDENTIAL_CODES = {
    "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
    "TokenRefreshRequired", "InvalidClientTokenId", "UnrecognizedClientException",
}
_DENIED_CODES = {"AccessDenied", "403", "AllAccessDisabled", "AccountProblem", "Forbidden"}
_TRANSIENT_CODES = {
    "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests",
    "RequestTimeout", "InternalError", "ServiceUnavailable", "Busy",
    "BadDigest", "XAmzContentSHA256Mismatch",  # bytes changed on the way (they left us whole)
}
_REGION_CODES = {"PermanentRedirect", "301", "AuthorizationHeaderMalformed",
                 "IllegalLocationConstraintException"}


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: Any) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _header(exc: Any, name: str) -> str | None:
    headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}) or {}
    value = headers.get(name)
    return str(value) if value is not None else None


class S3Store:
    can_list = True
    exists_batch = EXISTS_BATCH

    def __init__(self, name: str, url: str, settings: dict[str, object]) -> None:
        from gitmv.config import parse_size

        self.name = name
        self.url = url
        rest = url.split("://", 1)[1]
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise RemoteError(f"remote {name!r}: {url!r} names no bucket",
                              "write the URL as s3://BUCKET or s3://BUCKET/PREFIX")
        self.bucket = bucket
        prefix = "/".join(p for p in prefix.split("/") if p)
        self.prefix = prefix + "/" if prefix else ""
        self.endpoint_url = _opt_str(settings, "endpoint_url", name)
        self.region = _opt_str(settings, "region", name)
        self.profile = _opt_str(settings, "profile", name)
        self.addressing_style = _opt_str(settings, "addressing_style", name) or (
            "path" if self.endpoint_url else "auto")
        self.multipart_threshold = parse_size(
            settings.get("multipart_threshold", MULTIPART_THRESHOLD),
            f"remote.{name}.multipart_threshold")
        self.multipart_chunksize = max(5 * 1024 * 1024, parse_size(  # S3's smallest part
            settings.get("multipart_chunksize", MULTIPART_CHUNKSIZE),
            f"remote.{name}.multipart_chunksize"))
        checksums = settings.get("checksums", True)
        if not isinstance(checksums, bool):
            raise RemoteError(f"remote {name!r}: `checksums` must be true or false, not "
                              f"{checksums!r}", f"fix [remote.{name}] in .mvm/config.toml")
        self.checksums = checksums
        if importlib.util.find_spec("boto3") is None:
            raise RemoteError(f"remote {name!r} ({url}): S3 stores need boto3, which is not "
                              "installed", "pip install 'gitmv[s3]'")
        self._lock = threading.Lock()
        self._probe_lock = threading.Lock()
        self._session: Any = None
        self._s3: Any = None
        self._transfers: Any = None
        self._bucket_ok = False

    # --- clients, made once and shared by every thread ---------------------------------------

    def _make_client(self, attempts: int) -> Any:
        """A boto3 S3 client (call with self._lock held: sessions are not thread-safe)."""
        import boto3
        from botocore.config import Config

        if self._session is None:
            self._session = self._guard(
                lambda: boto3.session.Session(profile_name=self.profile, region_name=self.region),
                "configure", "")
        options: dict[str, Any] = {
            "retries": {"max_attempts": attempts, "mode": "standard"},
            "max_pool_connections": POOL_CONNECTIONS,
            "connect_timeout": 10,
            "read_timeout": 60,
            "s3": {"addressing_style": self.addressing_style},
            "user_agent_extra": "gitmv",
        }
        if self.endpoint_url:
            # Other S3 implementations (GCS interop, older MinIO and Ceph) reject the default
            # CRC checksums and aws-chunked bodies of boto3 >= 1.36; gitmv verifies sha256.
            options["request_checksum_calculation"] = "when_required"
            options["response_checksum_validation"] = "when_required"
        try:
            config = Config(**options)
        except TypeError:  # botocore < 1.36 has no checksum options (and does not need them)
            options.pop("request_checksum_calculation", None)
            options.pop("response_checksum_validation", None)
            config = Config(**options)
        session = self._session
        return self._guard(
            lambda: session.client("s3", endpoint_url=self.endpoint_url, config=config),
            "configure", "")

    def _client(self) -> Any:
        if self._s3 is None:
            with self._lock:
                if self._s3 is None:
                    self._s3 = self._make_client(SINGLE_ATTEMPTS)
        return self._s3

    def _transfer_manager(self) -> Any:
        if self._transfers is None:
            with self._lock:
                if self._transfers is None:
                    from boto3.s3.transfer import TransferConfig, create_transfer_manager

                    config = TransferConfig(
                        multipart_threshold=self.multipart_threshold,
                        multipart_chunksize=self.multipart_chunksize,
                        max_concurrency=MULTIPART_THREADS,
                        preferred_transfer_client="classic",
                    )
                    config.max_in_memory_upload_chunks = MULTIPART_MEMORY_CHUNKS
                    self._transfers = create_transfer_manager(
                        self._make_client(PART_ATTEMPTS), config)
        return self._transfers

    # --- the Store interface --------------------------------------------------------------

    def key(self, oid: str) -> str:
        return f"{self.prefix}{oid[:2]}/{oid[2:4]}/{oid}"

    def exists_many(self, oids: Sequence[str]) -> set[str]:
        return set(self.stat_many(oids))

    def stat_many(self, oids: Sequence[str], checksums: bool = False) -> dict[str, Stored]:
        todo = list(dict.fromkeys(oids))
        if len(todo) <= HEAD_MAX or checksums:  # (a listing says no checksums)
            return self._head_many(todo, checksums)
        # A listing costs the store's size, HEADs the query's: list one `<aa>/` sub-prefix
        # (1/256 of the store) to estimate the size, and answer its own oids on the way.
        aa = todo[0][:2]
        page = next(self._pages(f"{self.prefix}{aa}/", "check", LIST_PAGE))
        contents = page.get("Contents", ())
        estimate = 256 * len(contents)
        found: dict[str, Stored] = {}
        if not page.get("IsTruncated"):
            listed = self._listed(contents)
            found = {oid: listed[oid] for oid in todo if oid[:2] == aa and oid in listed}
            todo = [oid for oid in todo if oid[:2] != aa]
        if len(todo) * KEYS_PER_HEAD < estimate:
            return found | self._head_many(todo)
        return found | self._list_many(todo)

    def upload(self, oid: str, size: int, src: BinaryIO) -> None:
        key = self.key(oid)
        data = _checked_source(src, size, oid)  # ObjectCorrupt: nothing is sent
        if size < self.multipart_threshold:
            body: Any = src if data is None else data  # (from memory: read once)

            def put(checksum: bool) -> None:
                extra = {"ChecksumAlgorithm": "SHA256", "ChecksumSHA256": _b64(oid)} \
                    if checksum else {}
                if data is None:
                    src.seek(start)
                self._client().put_object(Bucket=self.bucket, Key=key, Body=body,
                                          ContentLength=size, **extra)

            start = src.tell()
            self._with_checksum_fallback(put, key)
        else:
            # boto3's transfer manager (what `upload_fileobj` runs), one for the whole store so
            # its threads and part buffers are shared; parts are sent in parallel.
            # Given the cache file's path rather than the open file, it reads each part from
            # disk as it is sent instead of queueing part buffers in memory (a 1 GiB upload:
            # peak RSS 137 MB -> see docs/benchmarks.md).
            self._abort_stale_multipart(key)
            manager = self._transfer_manager()
            source: Any = _path_of(src) or src

            def multipart(checksum: bool) -> None:
                extra = {"ChecksumAlgorithm": "SHA256"} if checksum else {}
                manager.upload(source, self.bucket, key, extra_args=extra).result()

            self._with_checksum_fallback(multipart, key)
        self._bucket_ok = True

    def _with_checksum_fallback(self, send: Callable[[bool], None], key: str) -> None:
        """`send(checksum)`, with the SHA256 checksum while the server takes it; a server that
        answers that it does not implement it gets requests without it from now on."""
        from botocore.exceptions import ClientError

        checksum = self.checksums
        try:
            send(checksum)
            return
        except GitMvmError:
            raise
        except ClientError as exc:
            if not (checksum and _code(exc) in _NO_CHECKSUM_CODES):
                raise self._error(exc, "upload", key) from None
        except Exception as exc:
            raise self._error(exc, "upload", key) from None
        self.checksums = False
        ui.debug(f"remote {self.name!r}: the server refuses x-amz-checksum-sha256; "
                 "uploading without it (gitmv hashed the bytes before sending them)")
        self._guard(lambda: send(False), "upload", key)

    def _abort_stale_multipart(self, key: str) -> None:
        """Abort the multipart uploads of `key` that a killed push left (their parts cost
        storage and nothing lists them), once they are MULTIPART_STALE_AFTER old."""
        try:
            page = self._client().list_multipart_uploads(Bucket=self.bucket, Prefix=key)
            for up in page.get("Uploads", ()):
                initiated = up.get("Initiated")
                if up.get("Key") != key or initiated is None or \
                        time.time() - initiated.timestamp() < MULTIPART_STALE_AFTER:
                    continue
                self._client().abort_multipart_upload(Bucket=self.bucket, Key=key,
                                                       UploadId=up["UploadId"])
        except Exception as exc:  # not allowed to list or abort: the lifecycle rule's job
            ui.debug(f"remote {self.name!r}: could not clean up old multipart uploads of "
                     f"{key}: {type(exc).__name__}")

    def clean_temps(self) -> tuple[int, int]:
        """Abort the multipart uploads under the prefix that killed pushes left (their parts
        cost storage and no listing of objects shows them), once they are
        MULTIPART_STALE_AFTER old: ListMultipartUploads, a ListParts each to say their size.
        Returns (uploads aborted, their bytes)."""
        client = self._client()
        aborted = nbytes = 0
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix}

        def listing() -> dict[str, Any]:
            return cast(dict[str, Any], client.list_multipart_uploads(**args))

        while True:
            page = self._guard(listing, "list uploads of", self.prefix)
            for up in page.get("Uploads", ()):
                initiated = up.get("Initiated")
                if initiated is None or \
                        time.time() - initiated.timestamp() < MULTIPART_STALE_AFTER:
                    continue
                size = self._parts_size(up["Key"], up["UploadId"])
                self._guard(partial(client.abort_multipart_upload, Bucket=self.bucket,
                                    Key=up["Key"], UploadId=up["UploadId"]),
                            "abort an upload of", up["Key"])
                aborted, nbytes = aborted + 1, nbytes + size
            if not page.get("IsTruncated"):
                return aborted, nbytes
            args = {**args, "KeyMarker": page.get("NextKeyMarker", ""),
                    "UploadIdMarker": page.get("NextUploadIdMarker", "")}

    def _parts_size(self, key: str, upload_id: str) -> int:
        """The bytes the parts of a multipart upload hold (0 when they cannot be listed)."""
        try:
            resp = self._client().list_parts(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except Exception:  # the abort is what matters
            return 0
        return sum(int(part.get("Size") or 0) for part in resp.get("Parts", ()))

    def open_download(self, oid: str, offset: int = 0) -> tuple[BinaryIO, int]:
        from botocore.exceptions import ClientError

        key = self.key(oid)
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if offset > 0:
            args["Range"] = f"bytes={offset}-"
        try:
            resp = self._client().get_object(**args)
        except ClientError as exc:
            if _code(exc) == "InvalidRange" and offset > 0:
                return self.open_download(oid, 0)  # the partial file is not shorter: start over
            if _code(exc) in ("NoSuchKey", "404"):
                raise RemoteError(f"object sha256:{oid} is not on remote {self.name!r}",
                                  "push it from the clone that added it (`git mvm push`)") from None
            raise self._error(exc, "download", key) from None
        except Exception as exc:
            raise self._error(exc, "download", key) from None
        self._bucket_ok = True
        start = 0
        content_range = str(resp.get("ContentRange") or "")
        if offset > 0 and content_range.startswith("bytes "):
            start = int(content_range[6:].split("-", 1)[0])
        length = resp.get("ContentLength")
        return cast(BinaryIO, _Body(resp["Body"], self, key,
                                    int(length) if length is not None else None)), start

    def list_objects(self) -> Iterator[tuple[str, int, float]]:
        for page in self._pages(self.prefix, "list"):
            for item in page.get("Contents", ()):
                oid = self._oid_of_key(item["Key"])
                if oid is not None:
                    yield oid, int(item["Size"]), item["LastModified"].timestamp()

    def delete(self, oid: str) -> None:
        key = self.key(oid)
        self._guard(lambda: self._client().delete_object(Bucket=self.bucket, Key=key),
                    "delete", key)

    def refresh(self, oids: Sequence[str]) -> set[str]:
        """Copy each of `oids` onto itself so that its LastModified is now and `gc --remote`
        keeps what a push relies on (a server-side copy: no bytes travel); returns those still
        there. The caller asks only for objects it found, and only old ones (`rely_on`)."""
        return {oid for oid, ok in _each(self._refresh, sorted(oids)).items() if ok}

    def _refresh(self, oid: str) -> bool:
        """One object's refresh; False when it is not there. A refusal of the checksum
        header sends this copy again without it, and leaves `self.checksums` alone: S3
        answers InvalidRequest to a copy too large for CopyObject too, and whether uploads
        may carry a checksum is theirs to find out."""
        from botocore.exceptions import ClientError

        key = self.key(oid)

        def copy(checksum: bool) -> None:
            # onto itself, S3 wants something to change: the metadata (none is set); the
            # checksum is asked for again so that fsck --verify can still read it
            extra = {"ChecksumAlgorithm": "SHA256"} if checksum else {}
            self._client().copy_object(Bucket=self.bucket, Key=key, MetadataDirective="REPLACE",
                                       CopySource={"Bucket": self.bucket, "Key": key}, **extra)

        try:
            try:
                copy(self.checksums)
            except ClientError as exc:
                if self._too_large_to_copy(exc, key):
                    self._copy_in_parts(oid)
                elif self.checksums and _code(exc) in _NO_CHECKSUM_CODES:
                    copy(False)
                else:
                    raise
        except ClientError as exc:
            if _status(exc) == 404 or _code(exc) in ("NoSuchKey", "404"):
                return False  # not there (or gc took it just now): the push sends it
            raise self._error(exc, "refresh", key) from None
        except GitMvmError:
            raise
        except Exception as exc:
            raise self._error(exc, "refresh", key) from None
        self._bucket_ok = True
        return True

    def _too_large_to_copy(self, exc: Any, key: str) -> bool:
        """Whether CopyObject refused `key` for its size (over COPY_MAX): AWS says so in the
        message of an InvalidRequest; for another server's answer the object's size decides
        (a HEAD, asked only after such a refusal)."""
        if _code(exc) not in ("InvalidRequest", "EntityTooLarge"):
            return False
        message = str(exc.response.get("Error", {}).get("Message", "") or "").lower()
        if "copy source is larger" in message:
            return True
        head = self._client().head_object(Bucket=self.bucket, Key=key)
        return int(head.get("ContentLength") or 0) > COPY_MAX

    def _copy_in_parts(self, oid: str) -> None:
        """Copy an object onto itself part by part (UploadPartCopy, no bytes travel through
        here): a new LastModified for objects too large for CopyObject, with the checksum
        asked for again, as the upload did (sent once more without it where it is refused).
        The server's errors are raised as they are (`_refresh` reads them)."""
        from botocore.exceptions import ClientError

        key = self.key(oid)
        source = {"Bucket": self.bucket, "Key": key}

        def copy(checksum: bool) -> None:
            extra = {"ChecksumAlgorithm": "SHA256"} if checksum else {}
            self._transfer_manager().copy(source, self.bucket, key, extra_args=extra).result()

        try:
            copy(self.checksums)
        except ClientError as exc:
            if not (self.checksums and _code(exc) in _NO_CHECKSUM_CODES):
                raise
            copy(False)

    def delete_if_older(self, oid: str, cutoff: float) -> bool:
        """Delete the object unless its LastModified is after `cutoff` (a push refreshed it);
        True when deleted. The time is read just before the DELETE: S3 has no conditional
        delete on time, so a refresh in the round trip between the two can still be lost."""

        head = self._head_key(self.key(oid))
        if head is None or (head.mtime or 0.0) > cutoff:
            return False
        self.delete(oid)
        return True

    # --- named files: packs, indexes, the layout file (docs/formats.md, "Store layout 2") ---
    def put_named(self, name: str, src: str) -> Stored:
        """Upload file `src` as `name` (one PUT, or a multipart upload past the threshold:
        visible only when complete). Confirmed: by the sha256 S3 computed of what it stored
        (answered with the PUT) where the server keeps checksums, else by a HEAD."""
        key = self.prefix + name
        size = os.stat(src).st_size
        with open(src, "rb") as f:
            oid = hashlib.sha256(f.read()).hexdigest() if size <= SMALL_PUT else \
                _file_sha256(f)
        answer: dict[str, Any] = {}
        if size < self.multipart_threshold:
            def put(checksum: bool) -> None:
                extra = {"ChecksumAlgorithm": "SHA256", "ChecksumSHA256": _b64(oid)} \
                    if checksum else {}
                with open(src, "rb") as body:
                    answer.update(self._client().put_object(
                        Bucket=self.bucket, Key=key, Body=body, ContentLength=size, **extra))
        else:
            manager = self._transfer_manager()

            def put(checksum: bool) -> None:
                extra = {"ChecksumAlgorithm": "SHA256"} if checksum else {}
                manager.upload(src, self.bucket, key, extra_args=extra).result()

        self._with_checksum_fallback(put, key)
        self._bucket_ok = True
        if _hex(answer.get("ChecksumSHA256")) == oid:
            return Stored(size, oid, time.time())
        head = self._head_key(key)
        if head is None or head.size != size:
            raise TransientError(f"remote {self.name!r}: {key} is not there at its size "
                                 "after its upload")
        return head

    def read_named(self, name: str, offset: int = 0, length: int | None = None) -> bytes | None:
        from botocore.exceptions import ClientError

        key = self.prefix + name
        if length == 0:
            return b""
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        span = byte_range(offset, length)
        if span:
            args["Range"] = span
        try:
            resp = self._client().get_object(**args)
            body = _Body(resp["Body"], self, key, resp.get("ContentLength"))
            with body:
                data = body.read()
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                return None
            raise self._error(exc, "read", key) from None
        except GitMvmError:
            raise
        except Exception as exc:
            raise self._error(exc, "read", key) from None
        self._bucket_ok = True
        return data

    def list_named(self, prefix: str) -> list[tuple[str, int, float]]:
        out = []
        for page in self._pages(self.prefix + prefix, "list"):
            for item in page.get("Contents", ()):
                name = item["Key"][len(self.prefix):]
                if "/" not in name[len(prefix):]:
                    out.append((name, int(item["Size"]), item["LastModified"].timestamp()))
        return sorted(out)

    def delete_named(self, name: str) -> None:
        key = self.prefix + name
        self._guard(lambda: self._client().delete_object(Bucket=self.bucket, Key=key),
                    "delete", key)

    def refresh_named(self, name: str) -> bool:
        """A server-side copy of `name` onto itself: its LastModified becomes now."""
        from botocore.exceptions import ClientError

        key = self.prefix + name
        try:
            self._client().copy_object(
                Bucket=self.bucket, Key=key, CopySource={"Bucket": self.bucket, "Key": key},
                MetadataDirective="REPLACE")
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                return False
            raise self._error(exc, "refresh", key) from None
        except Exception as exc:
            raise self._error(exc, "refresh", key) from None
        return True

    def delete_named_if_older(self, name: str, cutoff: float) -> bool:
        """`delete_if_older` for a named file (a pack's index or pack)."""
        head = self._head_key(self.prefix + name)
        if head is None or (head.mtime or 0.0) > cutoff:
            return False
        self.delete_named(name)
        return True

    def has_loose_objects(self) -> bool:
        """Whether any key under the prefix is a v1 object (`aa/bb/oid`): keys list in
        order, and those of objects (hex) sort before `index/`, `mvm-layout` and `packs/`."""
        page = next(self._pages(self.prefix, "list", 1))
        contents = page.get("Contents", ())
        return bool(contents) and self._oid_of_key(contents[0]["Key"]) is not None

    def _head_key(self, key: str) -> Stored | None:
        from botocore.exceptions import ClientError

        try:
            resp = self._client().head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _status(exc) == 404:
                return None
            raise self._error(exc, "check", key) from None
        except Exception as exc:
            raise self._error(exc, "check", key) from None
        return Stored(int(resp.get("ContentLength") or 0), None,
                      resp["LastModified"].timestamp())

    # --- existence: parallel HEADs, or listings -------------------------------------------

    def _head_many(self, oids: Sequence[str], checksums: bool = False) -> dict[str, Stored]:
        found = _each(lambda oid: self._head(oid, checksums), oids)
        return {oid: st for oid, st in found.items() if st is not None}

    def _head(self, oid: str, checksums: bool = False) -> Stored | None:
        from botocore.exceptions import ClientError

        key = self.key(oid)
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if checksums:
            args["ChecksumMode"] = "ENABLED"
        try:
            resp = self._client().head_object(**args)
        except ClientError as exc:
            # a HEAD answer has no body: 404 may be a missing bucket, 403 bad credentials
            if _status(exc) == 404:
                if not self._bucket_ok:
                    with self._probe_lock:  # one probe, not one per thread
                        if not self._bucket_ok:
                            self._probe(key, exc)
                return None
            if _status(exc) in (400, 403):
                self._probe(key, exc)
            raise self._error(exc, "check", key) from None
        except Exception as exc:
            raise self._error(exc, "check", key) from None
        self._bucket_ok = True
        length = resp.get("ContentLength")
        modified = resp.get("LastModified")
        return Stored(int(length) if length is not None else None, _whole_sha256(resp),
                      modified.timestamp() if modified is not None else None)

    def _probe(self, key: str, head_error: Any) -> None:
        """After a body-less HEAD error: a ranged GET whose error says why (raised); returns
        when the bucket exists and the key is merely missing."""
        from botocore.exceptions import ClientError

        try:
            resp = self._client().get_object(Bucket=self.bucket, Key=key, Range="bytes=0-0")
            resp["Body"].close()
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "InvalidRange") and _status(head_error) == 404:
                self._bucket_ok = True
                return
            raise self._error(exc, "check", key) from None
        except Exception as exc:
            raise self._error(exc, "check", key) from None

    def _list_many(self, oids: Sequence[str]) -> dict[str, Stored]:
        from concurrent.futures import ThreadPoolExecutor

        groups: dict[str, list[str]] = {}
        for oid in sorted(oids):
            groups.setdefault(oid[0], []).append(oid)
        with ThreadPoolExecutor(min(EXISTS_THREADS, len(groups))) as pool:
            parts = list(pool.map(self._list_group, groups.values()))
        found: dict[str, Stored] = {}
        rest: list[str] = []
        for got, unresolved in parts:
            found |= got
            rest += unresolved
        return found | self._head_many(rest) if rest else found

    def _list_group(self, group: list[str]) -> tuple[dict[str, Stored], list[str]]:
        """List `<prefix><h>` (h: the group's first hex digit), reading at most about twice
        as many keys as HEADing the group would cost; oids past the last key listed are left
        to HEADs (so a store far larger than estimated costs at most ~3x the HEADs)."""
        wanted = set(group)
        found: dict[str, Stored] = {}
        last = ""
        budget = 2 * len(group) * KEYS_PER_HEAD  # x2: the size estimate is rough
        for page in self._pages(self.prefix + group[0][0], "check", budget):
            contents = page.get("Contents", ())
            if contents:
                last = contents[-1]["Key"]
            found |= {oid: st for oid, st in self._listed(contents).items() if oid in wanted}
            if not page.get("IsTruncated"):
                return found, []
        return found, [oid for oid in group if self.key(oid) > last]

    def _listed(self, contents: Sequence[dict[str, Any]]) -> dict[str, Stored]:
        """{oid: Stored} of a listing page's keys that are objects."""
        out = {}
        for item in contents:
            oid = self._oid_of_key(item["Key"])
            if oid is not None:
                modified = item.get("LastModified")
                out[oid] = Stored(int(item["Size"]), None,
                                  modified.timestamp() if modified is not None else None)
        return out

    def _pages(self, prefix: str, op: str, max_keys: int | None = None
               ) -> Iterator[dict[str, Any]]:
        """Pages of list_objects_v2 under `prefix`, up to `max_keys` keys in all."""
        client = self._client()
        token: str | None = None
        left = max_keys
        while left is None or left > 0:
            args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix,
                                    "MaxKeys": LIST_PAGE if left is None else min(LIST_PAGE, left)}
            if token:
                args["ContinuationToken"] = token

            def request(a: dict[str, Any] = args) -> dict[str, Any]:
                return cast(dict[str, Any], client.list_objects_v2(**a))

            page = self._guard(request, op, prefix)
            self._bucket_ok = True
            if left is not None:
                left -= args["MaxKeys"]
            yield page
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    def _oid_of_key(self, key: str) -> str | None:
        parts = key[len(self.prefix):].split("/")
        if len(parts) != 3 or not key.startswith(self.prefix):
            return None
        aa, bb, hexoid = parts
        if (len(hexoid) != 64 or hexoid[:2] != aa or hexoid[2:4] != bb
                or not all(c in "0123456789abcdef" for c in hexoid)):
            return None
        return hexoid

    # --- errors a person can act on -------------------------------------------------------

    def _guard(self, fn: Callable[[], T], op: str, key: str) -> T:
        try:
            return fn()
        except GitMvmError:
            raise
        except Exception as exc:
            raise self._error(exc, op, key) from None

    def _error(self, exc: BaseException, op: str, key: str) -> RemoteError:
        from botocore import exceptions as bx

        where = f"remote {self.name!r} ({self.url})"
        setting = f"[remote.{self.name}] in .mvm/config.toml"
        if isinstance(exc, RemoteError):
            return exc
        if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
            return RemoteError(
                f"{where}: no AWS credentials found",
                "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run "
                f"`aws configure`; or set `profile` under {setting} (gitmv stores no secrets)",
                store_wide=True)
        if isinstance(exc, bx.ProfileNotFound):
            return RemoteError(f"{where}: AWS profile {self.profile!r} not found",
                               f"add it to ~/.aws/config or fix `profile` under {setting}",
                               store_wide=True)
        if isinstance(exc, bx.SSLError):
            return RemoteError(f"{where}: TLS failed: {exc}",
                               f"check `endpoint_url` under {setting} (http:// or https://)",
                               store_wide=True)
        if isinstance(exc, bx.ConnectionError | bx.HTTPClientError | OSError):
            endpoint = self.endpoint_url or "AWS S3"
            return TransientError(
                f"{where}: cannot reach {endpoint}: {type(exc).__name__}",
                hint=f"check that the server is up, the network, and `endpoint_url` "
                f"under {setting}", store_wide=True)
        if isinstance(exc, bx.ClientError):
            return self._client_error(exc, op, key, where, setting)
        if isinstance(exc, bx.BotoCoreError):
            return RemoteError(f"{where}: {op} failed: {exc}", store_wide=True)
        return RemoteError(f"{where}: {op} failed: {type(exc).__name__}: {exc}")

    def _client_error(self, exc: Any, op: str, key: str, where: str, setting: str
                      ) -> RemoteError:
        code, status = _code(exc), _status(exc)
        message = str(exc.response.get("Error", {}).get("Message", "") or "")
        if code in _CREDENTIAL_CODES:
            return RemoteError(
                f"{where}: the AWS credentials were refused ({code})",
                "check the access key and secret the AWS credential chain finds "
                "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws/credentials, or "
                f"`profile` under {setting})", store_wide=True)
        if code in ("NoSuchBucket", "InvalidBucketName"):
            return RemoteError(
                f"{where}: no bucket named {self.bucket!r}" if code == "NoSuchBucket"
                else f"{where}: {self.bucket!r} is not a valid bucket name",
                f"create the bucket (`aws s3 mb s3://{self.bucket}`), or fix the remote's URL "
                "(`git mvm remote list`)", store_wide=True)
        if code in _REGION_CODES:
            region = _header(exc, "x-amz-bucket-region")
            return RemoteError(
                f"{where}: the bucket is in another region"
                + (f" ({region})" if region else ""),
                f"set region = \"{region or '…'}\" under {setting}", store_wide=True)
        if code in _TRANSIENT_CODES or (code != "NotImplemented"
                                         and is_transient_status(status)):
            return TransientError(
                f"{where}: {op} {key}: the server answered {code or status}",
                retry_after=parse_retry_after(_header(exc, "retry-after")))
        if code in _DENIED_CODES or status == 403:
            return RemoteError(
                f"{where}: permission denied: cannot {op} s3://{self.bucket}/{key}",
                "the AWS identity in use needs s3:ListBucket, s3:GetObject and s3:PutObject on "
                "the bucket (s3:DeleteObject for `gc --remote`)", store_wide=True)
        detail = f"{code}: {message}" if message else code or str(status)
        return RemoteError(f"{where}: {op} {key} failed: {detail}")


class _Body:
    """A downloaded object's stream; network faults mid-body become TransientError (the
    engine resumes from what it has)."""

    def __init__(self, body: Any, store: S3Store, key: str, length: int | None) -> None:
        self._body = body
        self._store = store
        self._key = key
        self._left = length  # what the answer's Content-Length says is still to come

    def read(self, n: int = -1) -> bytes:
        try:
            data: bytes = self._body.read(None if n < 0 else n)
        except Exception as exc:  # a reset, a timeout, a short body: this object only
            raise self._broke_off(exc) from None
        return data

    def read1(self, n: int = -1) -> bytes:
        """What has arrived, up to `n` bytes (waiting at most the read timeout for some): the
        engine checks its deadline between reads, whatever the pace of the server."""
        raw = getattr(self._body, "_raw_stream", None)
        if raw is None or not hasattr(raw, "read1"):
            return self.read(n)
        try:
            data: bytes = raw.read1(n if n >= 0 else None)
        except Exception as exc:
            raise self._broke_off(exc) from None
        if self._left is not None:  # (botocore's own read checks this; read1 bypasses it)
            self._left -= len(data)
            if not data and self._left > 0:
                raise self._broke_off(EOFError(f"{self._left} bytes short"))
        return data

    def _broke_off(self, exc: BaseException) -> TransientError:
        return TransientError(f"remote {self._store.name!r}: download of {self._key} broke "
                              f"off: {type(exc).__name__}")

    def close(self) -> None:
        self._body.close()

    def __enter__(self) -> _Body:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _b64(oid: str) -> str:
    """An oid as S3 writes a SHA256 checksum."""
    return base64.b64encode(bytes.fromhex(oid)).decode()


def _hex(checksum: object) -> str | None:
    """S3's ChecksumSHA256 of a whole object as hex; None for none, or for the checksum of
    a multipart upload's part checksums (`…-N`), which is no object's sha256."""
    if not isinstance(checksum, str) or "-" in checksum:
        return None
    try:
        raw = base64.b64decode(checksum, validate=True)
    except ValueError:
        return None
    return raw.hex() if len(raw) == 32 else None


def _whole_sha256(head: dict[str, Any]) -> str | None:
    """The sha256 of the whole object a HEAD answer describes, where the store says one; None
    for the SHA256 of a multipart upload, which is a checksum of its parts' checksums: AWS
    says `ChecksumType: COMPOSITE` and ends it with `-N`; other servers (moto) say neither,
    and only the ETag's `-N` (a multipart ETag) tells. A CopyObject onto itself (a refresh)
    makes it a single-part object with a whole-object checksum again."""
    kind = str(head.get("ChecksumType") or "").upper()
    etag = str(head.get("ETag") or "").strip('"')
    parts = etag.rpartition("-")[2] if "-" in etag else ""
    if kind == "COMPOSITE" or (kind != "FULL_OBJECT" and parts.isdigit()):
        return None
    return _hex(head.get("ChecksumSHA256"))


def _checked_source(src: BinaryIO, size: int, oid: str) -> bytes | None:
    """Hash the `size` bytes `src` holds from where it stands (and seek back there); refuse
    them (ObjectCorrupt) when they are not object `oid`. Small objects come back as bytes,
    to be sent from memory (read once); larger ones are read again as they are sent."""
    start = src.tell()
    if size <= SMALL_PUT:
        data = src.read(size)
        src.seek(start)
        if len(data) == size and hashlib.sha256(data).hexdigest() == oid:
            return data
        got = f"a file {size - len(data)} bytes short" if len(data) < size else \
            f"sha256:{hashlib.sha256(data).hexdigest()}"
        raise ObjectCorrupt(f"sha256:{oid}", got, "local cache")
    h = hashlib.sha256()
    left = size
    while left:
        chunk = src.read(min(HASH_BUFSIZE, left))
        if not chunk:
            raise ObjectCorrupt(f"sha256:{oid}", f"a file {left} bytes short", "local cache")
        h.update(chunk)
        left -= len(chunk)
    if h.hexdigest() != oid:
        raise ObjectCorrupt(f"sha256:{oid}", f"sha256:{h.hexdigest()}", "local cache")
    src.seek(start)
    return None


def _file_sha256(f: BinaryIO) -> str:
    h = hashlib.sha256()
    while chunk := f.read(HASH_BUFSIZE):
        h.update(chunk)
    return h.hexdigest()


def _each(ask: Callable[[str], T], oids: Sequence[str]) -> dict[str, T]:
    """{oid: ask(oid)}, asked in parallel (EXISTS_THREADS at a time)."""
    from concurrent.futures import ThreadPoolExecutor

    if len(oids) <= 1:
        return {o: ask(o) for o in oids}
    with ThreadPoolExecutor(min(EXISTS_THREADS, len(oids))) as pool:
        return dict(zip(oids, pool.map(ask, oids), strict=True))


def _opt_str(settings: dict[str, object], key: str, name: str) -> str | None:
    value = settings.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RemoteError(f"remote {name!r}: `{key}` must be a string, not {value!r}",
                          f"fix [remote.{name}] in .mvm/config.toml")
    return value


def _path_of(src: BinaryIO) -> str | None:
    """The path `src` was opened from, where reading that path gives the bytes `upload` must
    send: the same file (not one since put in its place), read from its start."""
    path = getattr(src, "name", None)
    if not isinstance(path, str):
        return None
    try:
        if src.tell() != 0:
            return None
        st, at = os.fstat(src.fileno()), os.stat(path)
    except (OSError, ValueError, AttributeError):
        return None
    return path if (st.st_dev, st.st_ino) == (at.st_dev, at.st_ino) else None
