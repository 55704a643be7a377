"""The S3 client the package uses: boto3 in worker threads, behind a typed async API.

boto3 blocks, so every call runs in a worker thread, at most ``max_workers`` at once (a
`anyio.CapacityLimiter`), never on the event loop. Retries of throttling, 5xx and dropped
connections are botocore's own ("standard" mode, ``max_attempts``), with its jittered
backoff. Errors leave this module as `PreconditionFailed`, `NotFound` or `StoreUnavailable`:
no botocore type gets out.

Every HTTP request (retries included) is counted by operation in `S3Client.requests`, from
botocore's ``before-send`` event: the figure S3 bills and the benchmark reports.
"""

from __future__ import annotations

import collections
import contextlib
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import anyio.to_thread

from imap_server.spool import SpooledMessage
from imap_server.store import StoreUnavailable

__all__ = ["NotFound", "ObjectInfo", "PreconditionFailed", "S3Client", "S3Config", "parse_s3_url"]

_MiB = 1024 * 1024


class PreconditionFailed(Exception):
    """A conditional write lost: the object exists (``If-None-Match: *``) or changed
    (``If-Match``)."""


class NotFound(Exception):
    """No such object."""


@dataclass(frozen=True, slots=True, kw_only=True)
class S3Config:
    """Where the objects go and how to reach them.

    Attributes:
        bucket: The bucket (it must exist).
        prefix: Key prefix of everything this store writes (no leading or trailing ``/``).
        endpoint_url: For MinIO and other S3-compatible services; None: AWS.
        region: None: boto3's configuration chain.
        addressing_style: ``"auto"``, ``"path"`` (MinIO) or ``"virtual"``.
        max_workers: boto3 calls in flight at once (worker threads).
        max_attempts: Attempts per request, retries of throttling / 5xx / resets included.
        multipart_threshold: Objects at least this large upload in parts.
        part_size: Size of each part (S3's minimum is 5 MiB).
    """

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    addressing_style: str = "auto"
    max_workers: int = 16
    max_attempts: int = 5
    multipart_threshold: int = 16 * _MiB
    part_size: int = 8 * _MiB

    def key(self, *parts: str) -> str:
        """The full key of ``parts`` under the prefix."""
        path = "/".join(parts)
        return f"{self.prefix}/{path}" if self.prefix else path


def parse_s3_url(url: str) -> tuple[S3Config, dict[str, str]]:
    """``s3://bucket/prefix?endpoint=...&region=...&addressing_style=path&max_workers=...``:
    the configuration, and the query options this module does not know (for the caller).

    Raises:
        ValueError: Not an ``s3://`` URL with a bucket, or a bad option value.
    """
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"not an s3://bucket/prefix URL: {url!r}")
    options = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    known: dict[str, Any] = {}
    if "endpoint" in options:
        known["endpoint_url"] = options.pop("endpoint") or None
    if "region" in options:
        known["region"] = options.pop("region") or None
    if "addressing_style" in options:
        style = options.pop("addressing_style")
        if style not in ("auto", "path", "virtual"):
            raise ValueError(f"s3 URL option addressing_style={style!r}: auto, path or virtual")
        known["addressing_style"] = style
    for name, minimum in (
        ("max_workers", 1),
        ("max_attempts", 1),
        ("multipart_threshold", 5 * _MiB),
        ("part_size", 5 * _MiB),
    ):
        if name in options:
            raw = options.pop(name)
            try:
                value = int(raw)
            except ValueError:
                raise ValueError(f"s3 URL option {name}={raw!r}: not an integer") from None
            if value < minimum:
                raise ValueError(f"s3 URL option {name}={value}: must be at least {minimum}")
            known[name] = value
    config = S3Config(bucket=parts.netloc, prefix=parts.path.strip("/"), **known)
    return config, options


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One object of a listing."""

    key: str
    size: int
    etag: str
    #: Seconds since the epoch.
    last_modified: float


class S3Client:
    """Async S3 operations on one bucket (see the module docstring)."""

    def __init__(self, config: S3Config, *, client: Any = None) -> None:
        self.config = config
        self._client = client if client is not None else _make_client(config)
        self._limiter = anyio.CapacityLimiter(config.max_workers)
        self._lock = threading.Lock()
        #: HTTP requests sent, by operation name (``PutObject``...), retries included.
        self.requests: collections.Counter[str] = collections.Counter()
        self._client.meta.events.register("before-send.s3.*", self._count)

    def _count(self, request: Any = None, **kwargs: Any) -> None:
        name = str(kwargs.get("event_name", "")).rsplit(".", 1)[-1] or "unknown"
        with self._lock:
            self.requests[name] += 1

    def total_requests(self) -> int:
        with self._lock:
            return sum(self.requests.values())

    async def _run(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        def call() -> Any:
            return fn(*args, **kwargs)

        try:
            return await anyio.to_thread.run_sync(call, limiter=self._limiter)
        except (PreconditionFailed, NotFound):
            raise
        except Exception as exc:
            raise _translate(exc) from None

    # -- objects ----------------------------------------------------------------------------

    async def put(
        self, key: str, data: bytes, *, if_none_match: bool = False, if_match: str | None = None
    ) -> str:
        """Write an object; return its ETag.

        Raises:
            PreconditionFailed: ``if_none_match`` and it exists, or ``if_match`` and its ETag
                differs.
        """
        kwargs: dict[str, Any] = {"Bucket": self.config.bucket, "Key": key, "Body": data}
        if if_none_match:
            kwargs["IfNoneMatch"] = "*"
        if if_match is not None:
            kwargs["IfMatch"] = if_match
        response = await self._run(self._client.put_object, **kwargs)
        return str(response["ETag"])

    async def upload(self, key: str, data: bytes | SpooledMessage) -> None:
        """Write an object that may be large: one PUT below ``multipart_threshold``, else a
        multipart upload of ``part_size`` parts sent one after the other, each read from
        ``data`` when its turn comes (a spooled message is never held whole: memory holds
        one part). A failed multipart upload is aborted, so S3 keeps no parts of it."""
        size = len(data)
        if size < self.config.multipart_threshold:
            body = data if isinstance(data, bytes) else await data.read()
            await self.put(key, body)
            return
        bucket = self.config.bucket
        created = await self._run(self._client.create_multipart_upload, Bucket=bucket, Key=key)
        upload_id = created["UploadId"]
        try:
            parts: list[dict[str, Any]] = []
            step = self.config.part_size
            for number, start in enumerate(range(0, size, step), start=1):
                if isinstance(data, bytes):
                    chunk = data[start : start + step]
                else:
                    chunk = await data.read(start, start + step)
                response = await self._run(
                    self._client.upload_part, Bucket=bucket, Key=key, UploadId=upload_id,
                    PartNumber=number, Body=chunk,
                )  # fmt: skip
                del chunk
                parts.append({"PartNumber": number, "ETag": response["ETag"]})
            await self._run(
                self._client.complete_multipart_upload, Bucket=bucket, Key=key,
                UploadId=upload_id, MultipartUpload={"Parts": parts},
            )  # fmt: skip
        except BaseException:
            # The upload failed already: report that, not a failure to abort it.
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await self._run(
                    self._client.abort_multipart_upload, Bucket=bucket, Key=key,
                    UploadId=upload_id,
                )  # fmt: skip
            raise

    async def get(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        """Octets ``[start:end]`` of an object (one ranged GET).

        Raises:
            NotFound: No such object.
        """
        kwargs: dict[str, Any] = {"Bucket": self.config.bucket, "Key": key}
        if start or end is not None:
            last = "" if end is None else str(end - 1)
            if end is not None and end <= start:
                return b""
            kwargs["Range"] = f"bytes={start}-{last}"
        response = await self._run(self._client.get_object, **kwargs)
        body = response["Body"]
        try:
            return bytes(await self._run(body.read))
        finally:
            body.close()

    async def get_with_etag(self, key: str) -> tuple[bytes, str]:
        """An object and its ETag.

        Raises:
            NotFound: No such object.
        """
        response = await self._run(self._client.get_object, Bucket=self.config.bucket, Key=key)
        body = response["Body"]
        try:
            data = await self._run(body.read)
        finally:
            body.close()
        return bytes(data), str(response["ETag"])

    async def stream(self, key: str, start: int = 0, end: int | None = None,
                     chunk_size: int = _MiB) -> AsyncIterator[bytes]:  # fmt: skip
        """An object's octets ``[start:end]`` in chunks of at most ``chunk_size`` (one GET;
        memory holds one chunk at a time)."""
        kwargs: dict[str, Any] = {"Bucket": self.config.bucket, "Key": key}
        if start or end is not None:
            if end is not None and end <= start:
                return
            kwargs["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        response = await self._run(self._client.get_object, **kwargs)
        body = response["Body"]
        try:
            while True:
                chunk = await self._run(body.read, chunk_size)
                if not chunk:
                    return
                yield bytes(chunk)
        finally:
            body.close()

    async def delete(self, keys: Sequence[str]) -> None:
        """Delete objects (1000 per request); missing ones are not an error."""
        for i in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[i : i + 1000]]
            response = await self._run(
                self._client.delete_objects,
                Bucket=self.config.bucket,
                Delete={"Objects": batch, "Quiet": True},
            )
            # Quiet mode still lists the keys it could not delete, in a 200 answer.
            failed = response.get("Errors") or ()
            if failed:
                raise StoreUnavailable(f"S3 could not delete {len(failed)} object(s)")

    async def list(self, prefix: str, *, start_after: str | None = None,
                   limit: int | None = None) -> list[ObjectInfo]:  # fmt: skip
        """Objects whose key starts with ``prefix``, in key order, after ``start_after``
        (one request per 1000)."""
        result: list[ObjectInfo] = []
        kwargs: dict[str, Any] = {"Bucket": self.config.bucket, "Prefix": prefix}
        if start_after is not None:
            kwargs["StartAfter"] = start_after
        while True:
            if limit is not None:
                kwargs["MaxKeys"] = min(1000, limit - len(result))
            response = await self._run(self._client.list_objects_v2, **kwargs)
            for item in response.get("Contents", ()):
                result.append(
                    ObjectInfo(
                        key=str(item["Key"]),
                        size=int(item["Size"]),
                        etag=str(item.get("ETag", "")),
                        last_modified=float(item["LastModified"].timestamp()),
                    )
                )
            if not response.get("IsTruncated") or (limit is not None and len(result) >= limit):
                return result
            kwargs["ContinuationToken"] = response["NextContinuationToken"]
            kwargs.pop("StartAfter", None)


def _make_client(config: S3Config) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=config.endpoint_url,
        region_name=config.region,
        config=Config(
            # total_max_attempts counts the first attempt (max_attempts would not).
            retries={"mode": "standard", "total_max_attempts": config.max_attempts},
            s3={"addressing_style": config.addressing_style},
            max_pool_connections=max(10, config.max_workers + 4),
        ),
    )


def _translate(exc: Exception) -> Exception:
    """A botocore / boto3 / socket error as ours."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = str(response.get("Error", {}).get("Code", ""))
        if status == 412 or code in ("PreconditionFailed", "ConditionalRequestConflict"):
            return PreconditionFailed(code or "precondition failed")
        if code == "NoSuchBucket":
            return StoreUnavailable("S3 bucket does not exist")
        if status == 404 or code in ("NoSuchKey", "NotFound", "404"):
            return NotFound(code or "not found")
        return StoreUnavailable(f"S3 error {code or status}")
    return StoreUnavailable(f"S3 unreachable: {type(exc).__name__}")
