"""`S3Store`: a complete store kept in S3 only (no database), shared by any number of
processes.

Keys under the URL's prefix:

- ``accounts/<url-quoted name>``: JSON ``{id, password, scram_sha1, scram_sha256}`` (the
  scrypt hash, SCRAM stored keys; never the password). Created with ``If-None-Match: *``,
  changed with ``If-Match``.
- ``users/<account id>/directory``: the account's mailbox names and subscriptions
  (`imap_store_s3.mailbox`).
- ``mailboxes/<mailbox id>/log/...`` and ``.../snapshot/...``: each mailbox's change log and
  snapshots (`imap_store_s3.log`).
- ``bodies/<uuid4 hex>``: message octets, immutable; shared by copies. Written before the
  APPEND's log entry is claimed; an APPEND that crashes in between leaves an orphan that
  `S3Store.collect_garbage` removes.

Requests (single writer, warm cache): APPEND 2 (body PUT, entry PUT); FETCH of bodies 1 GET per
body read; FETCH of metadata 0 or 1 (a LIST when the cache caught up over ``poll_interval``
seconds ago); ``changes_since`` likewise. An open mailbox costs one LIST per ``poll_interval``
while it stays open (the price of seeing other processes' changes).

Other processes' changes: while a mailbox has an open handle in this process, a task started
by `S3Store.start` lists its log after the last entry seen every ``poll_interval`` seconds and
calls `notify_change` when there is something new (IDLE clients hear of it within about that).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import urllib.parse
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, ClassVar

import anyio
import anyio.to_thread

from imap_server.accounts import (
    AccountAdmin,
    AccountExists,
    GarbageCollector,
    GarbageReport,
    NoSuchAccount,
    PasswordHash,
    check_login,
    decode_scram,
    encode_scram,
    scram_keys,
)
from imap_server.auth import ScramAuthenticator
from imap_server.store import (
    Backend,
    MailboxGone,
    PasswordAuthenticator,
    StoreError,
    StoreUnavailable,
    User,
)
from imap_wire.sasl import ScramCredentials

from ._client import NotFound, PreconditionFailed, S3Client, S3Config, parse_s3_url
from .log import Logs, MailboxState, dumps
from .mailbox import S3Mailbox, S3User, new_directory

__all__ = ["S3Store", "open_s3_store"]

_log = logging.getLogger("imap_store_s3")
_SCRAM_FIELDS = {"sha1": "scram_sha1", "sha256": "scram_sha256"}
_MAX_ATTEMPTS = 50
#: Mailbox states kept for mailboxes no handle holds (the rest are kept while held).
_STATE_CACHE = 256


class S3Store(Backend, PasswordAuthenticator, ScramAuthenticator, AccountAdmin, GarbageCollector):
    """A store in one S3 bucket (see the module docstring).

    Args:
        config: Bucket, prefix and client settings (`parse_s3_url`).
        max_message_size: Largest message accepted, in octets; None: no limit.
        poll_interval: Seconds between looks for other processes' changes to open mailboxes.
        client: An `S3Client` to use instead of making one from ``config``.
    """

    #: scrypt cost of new password hashes (tests lower it).
    scrypt_n: ClassVar[int] = 2**14
    #: PBKDF2 iterations of new SCRAM keys.
    scram_iterations: ClassVar[int] = 4096

    def __init__(
        self,
        config: S3Config,
        *,
        max_message_size: int | None = None,
        poll_interval: float = 1.0,
        client: S3Client | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.max_message_size = max_message_size
        self.poll_interval = poll_interval
        self._client = client if client is not None else S3Client(config)
        self._logs = Logs(self._client, self.notify_change, fresh_for=poll_interval)
        #: Every state some handle holds, by mailbox id...
        self._states: weakref.WeakValueDictionary[str, MailboxState] = weakref.WeakValueDictionary()
        #: ...and the most recently used ones besides.
        self._recent: OrderedDict[str, MailboxState] = OrderedDict()
        #: Open handles: their mailboxes are polled for other processes' changes.
        self._handles: weakref.WeakSet[S3Mailbox] = weakref.WeakSet()
        #: Directory cache: account id -> (document, ETag, monotonic time read).
        self._directories: dict[str, tuple[dict[str, Any], str, float]] = {}
        self._poller: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<S3Store s3://{self.config.bucket}/{self.config.prefix}>"

    @property
    def requests(self) -> int:
        """HTTP requests sent to S3 so far (retries included)."""
        return self._client.total_requests()

    # -- lifecycle

    async def start(self) -> None:
        if self._poller is None:
            self._poller = asyncio.get_running_loop().create_task(self._poll())

    @property
    def polling(self) -> bool:
        """True while the task that looks for other processes' changes runs."""
        return self._poller is not None and not self._poller.done()

    async def aclose(self) -> None:
        task, self._poller = self._poller, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            states = {handle._state.id: handle._state for handle in list(self._handles)}
            watched = [s for s in states.values() if s.loaded and not s.gone]
            if not watched:
                continue

            async def look(state: MailboxState) -> None:
                try:
                    # Always a LIST: reads rely on this poll (see S3Mailbox._fresh), and a
                    # recent write of ours says nothing of entries written after it.
                    await self._logs.refresh(state, max_age=0)
                except MailboxGone:
                    self.notify_change(state.id)
                except StoreError as exc:
                    _log.warning("polling mailbox %s failed: %s", state.id, exc)

            try:
                async with anyio.create_task_group() as group:
                    for state in watched:
                        group.start_soon(look, state)
            except Exception:
                _log.exception("polling for changes failed")

    # -- keys and documents

    def account_key(self, name: str) -> str:
        return self.config.key("accounts", urllib.parse.quote(name, safe=""))

    def directory_key(self, account_id: str) -> str:
        return self.config.key("users", account_id, "directory")

    def body_key(self) -> str:
        return self.config.key("bodies", uuid.uuid4().hex)

    @staticmethod
    def dumps(doc: Any) -> bytes:
        return dumps(doc)

    @staticmethod
    def loads(data: bytes) -> Any:
        try:
            return json.loads(data)
        except ValueError:
            raise StoreUnavailable("A stored document is damaged") from None

    # -- mailbox states

    def _state(self, mailbox_id: str, name: str, uid_validity: int) -> MailboxState:
        state = self._states.get(mailbox_id)
        if state is None:
            state = MailboxState(mailbox_id, name, uid_validity)
            self._states[mailbox_id] = state
        else:
            state.name = name
        self._recent[mailbox_id] = state
        self._recent.move_to_end(mailbox_id)
        while len(self._recent) > _STATE_CACHE:
            self._recent.popitem(last=False)
        return state

    def _new_state(self, mailbox_id: str, name: str, uid_validity: int) -> MailboxState:
        """The state of a mailbox just created (nothing to read: its log is empty)."""
        state = self._state(mailbox_id, name, uid_validity)
        state.loaded = True
        state.fresh_at = time.monotonic()
        return state

    def _handle(self, state: MailboxState) -> S3Mailbox:
        handle = S3Mailbox(self, state)
        self._handles.add(handle)
        return handle

    async def _destroy(self, state: MailboxState) -> None:
        """Append the destroyed marker to a mailbox's log (handles everywhere see it)."""
        with contextlib.suppress(MailboxGone):
            await self._logs.commit(state, lambda s: ({"d": True}, None))
        state.gone = True
        self.notify_change(state.id)

    async def _forget_bodies(self, keys: Sequence[str]) -> None:
        with anyio.CancelScope(shield=True):
            try:
                await self._client.delete(list(keys))
            except StoreError as exc:
                _log.warning("orphaned bodies left for the garbage collector: %s", exc)

    # -- accounts

    async def _account(self, name: str) -> tuple[dict[str, Any], str] | None:
        try:
            data, etag = await self._client.get_with_etag(self.account_key(name))
        except NotFound:
            return None
        return self.loads(data), etag

    async def open_user(self, username: str) -> User:
        found = await self._account(username)
        if found is None:
            raise StoreError("No such user")
        return S3User(self, username, str(found[0]["id"]))

    def _credentials(self, password: str) -> dict[str, Any]:
        record: dict[str, Any] = {
            "password": PasswordHash.create(password, n=self.scrypt_n).encode()
        }
        for hash_name, credentials in scram_keys(
            password, iterations=self.scram_iterations
        ).items():
            record[_SCRAM_FIELDS[hash_name]] = encode_scram(credentials)
        return record

    async def create_account(self, name: str, password: str) -> None:
        if not name:
            raise ValueError("the account name is empty")
        if await self._account(name) is not None:
            raise AccountExists(name)
        record = await anyio.to_thread.run_sync(self._credentials, password)
        record["id"] = account_id = uuid.uuid4().hex
        directory, _ = new_directory()
        await self._client.put(
            self.directory_key(account_id), self.dumps(directory), if_none_match=True
        )
        try:
            await self._client.put(self.account_key(name), self.dumps(record), if_none_match=True)
        except PreconditionFailed:
            await self._client.delete([self.directory_key(account_id)])
            raise AccountExists(name) from None

    async def change_password(self, name: str, password: str) -> None:
        credentials = await anyio.to_thread.run_sync(self._credentials, password)
        for _ in range(_MAX_ATTEMPTS):
            found = await self._account(name)
            if found is None:
                raise NoSuchAccount(name)
            record, etag = found
            for field in _SCRAM_FIELDS.values():
                record.pop(field, None)
            record.update(credentials)
            try:
                await self._client.put(self.account_key(name), self.dumps(record), if_match=etag)
            except (PreconditionFailed, NotFound):
                continue
            return
        raise StoreUnavailable("The account is too busy")

    async def delete_account(self, name: str) -> None:
        found = await self._account(name)
        if found is None:
            raise NoSuchAccount(name)
        account_id = str(found[0]["id"])
        user = S3User(self, name, account_id)
        try:
            directory, _, _ = await user._directory(fresh=True)
        except StoreError:
            directory = {"mailboxes": {}}
        await self._client.delete([self.account_key(name), self.directory_key(account_id)])
        self._directories.pop(account_id, None)
        for mailbox_name, entry in directory["mailboxes"].items():
            if entry.get("id"):
                state = self._state(entry["id"], mailbox_name, int(entry["uid_validity"]))
                await self._destroy(state)

    async def account_names(self) -> Sequence[str]:
        prefix = self.config.key("accounts") + "/"
        infos = await self._client.list(prefix)
        return sorted(urllib.parse.unquote(info.key[len(prefix) :]) for info in infos)

    # -- authentication

    async def check_password(
        self, username: str, password: str, *, authzid: str | None = None
    ) -> str | None:
        found = await self._account(username) if username else None
        record: PasswordHash | None = None
        if found is not None:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                record = PasswordHash.decode(found[0]["password"])
        return await check_login(username, password, record, authzid=authzid, n=self.scrypt_n)

    async def scram_credentials(self, username: str, hash_name: str) -> ScramCredentials | None:
        field = _SCRAM_FIELDS.get(hash_name)
        if field is None or not username:
            return None
        found = await self._account(username)
        if found is None or not found[0].get(field):
            return None
        try:
            return decode_scram(found[0][field])
        except ValueError:
            return None

    # -- garbage

    async def collect_garbage(
        self, *, older_than: float = 3600.0, dry_run: bool = False
    ) -> GarbageReport:
        """Remove bodies no mailbox of any account refers to, last written over
        ``older_than`` seconds ago. The bodies are listed before the mailboxes are read, so a
        body stored after the listing is never looked at."""
        if older_than < 0:
            raise ValueError("older_than must not be negative")
        started = time.time()
        bodies = await self._client.list(self.config.key("bodies") + "/")
        referenced = await self._referenced_bodies()
        candidates = [b for b in bodies if b.key not in referenced]
        if candidates:
            # Mailboxes are read one after the other: a MOVE (append there, expunge here)
            # between reading its destination and its source hides its body from one pass.
            # A second pass sees the destination after the move; only bodies neither pass
            # saw referenced go.
            referenced = await self._referenced_bodies()
            candidates = [b for b in candidates if b.key not in referenced]
        removed: list[str] = []
        removed_bytes = too_young = 0
        for body in candidates:
            if started - body.last_modified < older_than:
                too_young += 1
                continue
            removed.append(body.key)
            removed_bytes += body.size
        if removed and not dry_run:
            await self._client.delete(removed)
        return GarbageReport(
            examined=len(bodies),
            removed=len(removed),
            removed_bytes=removed_bytes,
            too_young=too_young,
        )

    async def _referenced_bodies(self) -> set[str]:
        """The body keys some message of some mailbox of some account refers to."""
        referenced: set[str] = set()
        accounts_prefix = self.config.key("accounts") + "/"
        for info in await self._client.list(accounts_prefix):
            try:
                record = self.loads(await self._client.get(info.key))
            except NotFound:
                continue
            user = S3User(self, urllib.parse.unquote(info.key[len(accounts_prefix) :]), "")
            user.account_id = str(record["id"])
            try:
                directory, _, _ = await user._directory(fresh=True)
            except StoreError:
                continue
            for name, entry in directory["mailboxes"].items():
                if not entry.get("id"):
                    continue
                state = self._state(entry["id"], name, int(entry["uid_validity"]))
                try:
                    await self._logs.refresh(state, max_age=0)
                except MailboxGone:
                    continue
                referenced.update(message.body for message in state.messages.values())
        return referenced


_URL_OPTIONS = ("max_message_size", "poll_interval")


def open_s3_store(url: str) -> S3Store:
    """Open the store for ``s3://bucket/prefix?endpoint=...&region=...`` (the
    ``imap_server.stores`` entry point). Besides the client options of `parse_s3_url`:
    ``max_message_size`` (octets) and ``poll_interval`` (seconds).

    Raises:
        ValueError: Not an s3:// URL, an unknown option, or a bad value.
    """
    config, options = parse_s3_url(url)
    unknown = sorted(set(options) - set(_URL_OPTIONS))
    if unknown:
        raise ValueError(f"unknown s3 store URL option(s): {', '.join(unknown)}")
    kwargs: dict[str, Any] = {}
    if "max_message_size" in options:
        raw = options["max_message_size"]
        try:
            kwargs["max_message_size"] = int(raw)
        except ValueError:
            raise ValueError(f"s3 URL option max_message_size={raw!r}: not an integer") from None
        if kwargs["max_message_size"] < 1:
            raise ValueError("s3 URL option max_message_size: must be positive")
    if "poll_interval" in options:
        raw = options["poll_interval"]
        try:
            kwargs["poll_interval"] = float(raw)
        except ValueError:
            raise ValueError(f"s3 URL option poll_interval={raw!r}: not a number") from None
        if not kwargs["poll_interval"] > 0:
            raise ValueError("s3 URL option poll_interval: must be positive")
    return S3Store(config, **kwargs)
