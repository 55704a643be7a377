"""A throwaway S3 endpoint for tests and benchmarks.

`s3_endpoint` starts moto in server mode (a real S3 HTTP endpoint) on a free loopback port and
stops it afterwards; when ``IMAP_TEST_S3_ENDPOINT`` is set (MinIO, AWS), it uses that instead
and starts nothing. `fresh_bucket` creates an empty bucket there.

    with s3_endpoint() as endpoint:
        bucket = fresh_bucket(endpoint)
        url = f"s3://{bucket}/mail?endpoint={endpoint}"
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

__all__ = ["ENDPOINT_ENV", "S3Unavailable", "fresh_bucket", "s3_endpoint", "test_credentials"]

#: An endpoint to use instead of starting moto; credentials come from the usual boto3 chain.
ENDPOINT_ENV = "IMAP_TEST_S3_ENDPOINT"
_START_TIMEOUT = 30.0


class S3Unavailable(RuntimeError):
    """moto could not be started and ``IMAP_TEST_S3_ENDPOINT`` is not set."""


def test_credentials() -> None:
    """Set dummy credentials and a region for moto, unless the environment has its own."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def s3_endpoint() -> Iterator[str]:
    """Yield the URL of an S3 endpoint (``http://127.0.0.1:PORT`` for moto).

    Raises:
        S3Unavailable: moto is not installed or did not start.
    """
    given = os.environ.get(ENDPOINT_ENV)
    if given:
        yield given
        return
    test_credentials()
    port = _free_port()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError as exc:
        raise S3Unavailable(f"cannot start moto: {exc}") from None
    try:
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise S3Unavailable(
                    f"moto exited with {process.returncode} (is moto[server] installed?)"
                )
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise S3Unavailable("moto did not start listening") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def fresh_bucket(endpoint: str) -> str:
    """Create an empty bucket at ``endpoint``; return its name."""
    import boto3

    test_credentials()
    name = f"imap-test-{uuid.uuid4().hex[:16]}"
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket=name)
    return name
