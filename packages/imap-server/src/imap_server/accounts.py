"""Account helpers every store shares: password hashes, SCRAM keys, and the optional
administration and schema interfaces the ``imap-server`` command drives.

`PasswordHash` is scrypt (memory-hard), kept as one text value (``encode`` / ``decode``) so a
database can store it in a column; `scram_keys` derives the SCRAM stored keys a store keeps
instead of a password.
"""

from __future__ import annotations

import abc
import base64
import functools
import hashlib
import hmac
import os
from collections.abc import Sequence
from dataclasses import dataclass

import anyio.to_thread

from imap_wire.sasl import SaslError, ScramCredentials

__all__ = [
    "AccountAdmin",
    "AccountExists",
    "GarbageCollector",
    "GarbageReport",
    "NoSuchAccount",
    "PasswordHash",
    "SchemaAdmin",
    "check_login",
    "decode_scram",
    "encode_scram",
    "scram_keys",
]

_SCRYPT_R = 8
_SCRYPT_P = 1
_SCRYPT_DKLEN = 32
_SALT_BYTES = 16
#: n=2**14, r=8 needs 16 MiB; OpenSSL's default ceiling (32 MiB) is too close for comfort.
_SCRYPT_MAXMEM = 64 * 1024 * 1024
#: scrypt cost of new hashes unless a store says otherwise.
DEFAULT_SCRYPT_N = 2**14
#: PBKDF2 iterations of new SCRAM keys (RFC 7677 section 4 recommends at least 4096).
DEFAULT_SCRAM_ITERATIONS = 4096


class PasswordHash:
    """An scrypt hash of a password, with the parameters it was made with."""

    __slots__ = ("_digest", "_n", "_p", "_r", "_salt")

    def __init__(self, *, salt: bytes, digest: bytes, n: int, r: int, p: int) -> None:
        self._salt = salt
        self._digest = digest
        self._n = n
        self._r = r
        self._p = p

    @classmethod
    def create(cls, password: str, *, n: int = DEFAULT_SCRYPT_N) -> PasswordHash:
        """Hash ``password`` with a new random salt (tens of milliseconds of CPU)."""
        salt = os.urandom(_SALT_BYTES)
        digest = _scrypt(password, salt, n=n, r=_SCRYPT_R, p=_SCRYPT_P)
        return cls(salt=salt, digest=digest, n=n, r=_SCRYPT_R, p=_SCRYPT_P)

    @classmethod
    def decoy(cls, *, n: int = DEFAULT_SCRYPT_N) -> PasswordHash:
        """A hash no password matches, checked at the same cost (for unknown users)."""
        return cls(
            salt=os.urandom(_SALT_BYTES),
            digest=os.urandom(_SCRYPT_DKLEN),
            n=n,
            r=_SCRYPT_R,
            p=_SCRYPT_P,
        )

    def verify(self, password: str) -> bool:
        """True if ``password`` matches (compared in constant time)."""
        candidate = _scrypt(password, self._salt, n=self._n, r=self._r, p=self._p)
        return hmac.compare_digest(candidate, self._digest)

    def encode(self) -> str:
        """``scrypt$<n>$<r>$<p>$<salt>$<digest>`` (base64), for a text column."""
        salt = base64.b64encode(self._salt).decode("ascii")
        digest = base64.b64encode(self._digest).decode("ascii")
        return f"scrypt${self._n}${self._r}${self._p}${salt}${digest}"

    @classmethod
    def decode(cls, text: str) -> PasswordHash:
        """Undo `encode`.

        Raises:
            ValueError: ``text`` is not an encoded hash.
        """
        try:
            scheme, n, r, p, salt, digest = text.split("$")
            if scheme != "scrypt":
                raise ValueError(scheme)
            return cls(
                salt=base64.b64decode(salt, validate=True),
                digest=base64.b64decode(digest, validate=True),
                n=int(n),
                r=int(r),
                p=int(p),
            )
        except (ValueError, TypeError):
            raise ValueError("not an encoded password hash") from None

    def __repr__(self) -> str:
        return "<password hash>"


async def check_login(
    username: str,
    password: str,
    record: PasswordHash | None,
    *,
    authzid: str | None = None,
    n: int = DEFAULT_SCRYPT_N,
) -> str | None:
    """What `imap_server.auth.PasswordAuthenticator.check_password` answers, once the store
    has looked up the user's ``record`` (None: no such user, or a hash it cannot read):
    ``username`` if ``password`` matches and ``authzid`` is None, empty or the user's own
    name; else None.

    The hash runs in a worker thread (tens of milliseconds of CPU), and runs for a missing
    ``record`` too, against a decoy of cost ``n`` (the store's), so the time taken does not
    tell whether the user exists.
    """
    checked = record if record is not None else _decoy(n)
    matches = await anyio.to_thread.run_sync(checked.verify, password)
    if not matches or record is None or authzid not in (None, "", username):
        return None
    return username


@functools.lru_cache(maxsize=8)
def _decoy(n: int) -> PasswordHash:
    return PasswordHash.decoy(n=n)


def _scrypt(password: str, salt: bytes, *, n: int, r: int, p: int) -> bytes:
    # surrogatepass: any str a decoder produced hashes instead of raising mid-authentication.
    secret = password.encode("utf-8", "surrogatepass")
    return hashlib.scrypt(
        secret, salt=salt, n=n, r=r, p=p, maxmem=_SCRYPT_MAXMEM, dklen=_SCRYPT_DKLEN
    )


def scram_keys(
    password: str, *, iterations: int = DEFAULT_SCRAM_ITERATIONS
) -> dict[str, ScramCredentials]:
    """SCRAM-SHA-1 and SCRAM-SHA-256 stored keys (random salts) by hash name; empty when the
    password fails SASLprep (then only LOGIN / PLAIN work for the account)."""
    try:
        return {
            hash_name: ScramCredentials.derive(password, iterations=iterations, hash_name=hash_name)
            for hash_name in ("sha1", "sha256")
        }
    except SaslError:
        return {}


def encode_scram(credentials: ScramCredentials) -> str:
    """``<iterations>$<salt>$<stored key>$<server key>`` (base64), for a text column."""
    parts = (credentials.salt, credentials.stored_key, credentials.server_key)
    encoded = "$".join(base64.b64encode(part).decode("ascii") for part in parts)
    return f"{credentials.iterations}${encoded}"


def decode_scram(text: str) -> ScramCredentials:
    """Undo `encode_scram`.

    Raises:
        ValueError: ``text`` is not encoded SCRAM credentials.
    """
    try:
        iterations, salt, stored, server = text.split("$")
        return ScramCredentials(
            salt=base64.b64decode(salt, validate=True),
            iterations=int(iterations),
            stored_key=base64.b64decode(stored, validate=True),
            server_key=base64.b64decode(server, validate=True),
        )
    except (ValueError, TypeError):
        raise ValueError("not encoded SCRAM credentials") from None


class AccountExists(Exception):
    """An account of that name exists already."""


class NoSuchAccount(Exception):
    """No account of that name exists."""


class AccountAdmin(abc.ABC):
    """Account administration of a persistent store (``imap-server user add|passwd|del``)."""

    @abc.abstractmethod
    async def create_account(self, name: str, password: str) -> None:
        """Create an account with an empty INBOX.

        Raises:
            AccountExists: The name is taken. ValueError: The name is empty.
        """

    @abc.abstractmethod
    async def change_password(self, name: str, password: str) -> None:
        """Replace an account's password (and its SCRAM keys).

        Raises:
            NoSuchAccount: No such account.
        """

    @abc.abstractmethod
    async def delete_account(self, name: str) -> None:
        """Delete an account with all its mailboxes and messages.

        Raises:
            NoSuchAccount: No such account.
        """

    @abc.abstractmethod
    async def account_names(self) -> Sequence[str]:
        """Every account's name, sorted."""


class SchemaAdmin(abc.ABC):
    """A store with a schema to create and migrate (``imap-server db upgrade``)."""

    @abc.abstractmethod
    async def schema_version(self) -> int:
        """The version the storage is at (0: empty, nothing created yet)."""

    @abc.abstractmethod
    async def upgrade(self) -> Sequence[int]:
        """Apply every migration the storage lacks, in order, each in one transaction;
        return the versions applied (none when it is current). Safe to run from several
        processes at once: they serialize and all but one find nothing to do."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GarbageReport:
    """What `GarbageCollector.collect_garbage` found and did."""

    #: Stored bodies looked at.
    examined: int
    #: Bodies no message refers to, old enough, removed (or that would be, on a dry run).
    removed: int
    #: Their octets.
    removed_bytes: int
    #: Unreferenced bodies left because they are younger than ``older_than``.
    too_young: int = 0


class GarbageCollector(abc.ABC):
    """A store whose crashes can leave orphaned message bodies (``imap-server gc``)."""

    @abc.abstractmethod
    async def collect_garbage(
        self, *, older_than: float = 3600.0, dry_run: bool = False
    ) -> GarbageReport:
        """Remove stored bodies no message refers to and older than ``older_than`` seconds
        (a younger one may belong to an APPEND in progress). Never removes a body a mailbox
        still refers to."""
