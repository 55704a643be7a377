"""`Client`: the blocking facade over `AsyncClient`, for code that has no event loop.

::

    from imap_client import Client

    with Client("imap.example.com") as client:  # connects; logs out and closes at the end
        client.login("alice", "secret")
        client.select("INBOX")
        for msg in client.fetch("1:*", ["UID", "FLAGS", "ENVELOPE"]):
            print(msg.uid, msg.envelope.subject)

How it works: `connect` starts an event loop in a background thread (an anyio
`BlockingPortal`) and, in one long-lived task of that loop, connects the `AsyncClient`; that
task also closes it, since anyio requires a task group to be left by the task that entered it.
Every blocking method runs the `AsyncClient` coroutine of the same name as a task of that loop
and waits for its result; exceptions propagate unchanged (the same objects).

How the methods are made: each is a one-line declaration in `Client`'s body,
``select = _Blocking(AsyncClient.select)``. The descriptor takes the parameters from the
`AsyncClient` method through a `ParamSpec`, so mypy sees the exact signature (names, defaults,
keyword-only markers, types) and the return type of the coroutine, with no copy to keep in
step; at run time the method gets the same docstring and `inspect.signature`, and calls the
method of that name on the `AsyncClient`. A public async method added to `AsyncClient` and not
declared here is still mirrored at import time (`_mirror_undeclared`), so it works at once,
untyped; ``tests/test_sync.py`` fails until its line is added, and names the line. Methods
that return an async object of their own get a blocking wrapper class written for it
(``idle = _BlockingAs(AsyncClient.idle, BlockingIdleSession)``, `BlockingFetchStream`); plain
async context managers and async iterators would use `_BlockingContext` / `_BlockingIterator`.
Each such object is driven from a single task of the loop. One method is written out by hand
(`authenticate`: mypy maps a method with ``**kwargs`` only if its ``self`` is positional-only);
the parity test checks it like the others.

Names: the same as `AsyncClient`'s, except two. ``aclose`` is `close` (closes the connection,
as in every blocking API); IMAP CLOSE is `close_mailbox`, as in `AsyncClient`: a
``close()`` meant as a disconnect must not expunge messages. `AsyncClient.submit` (it returns
a command to await) has no counterpart: use `Client.call`.

Threads: a `Client` may be used from any thread, but it is one IMAP session (one selected
mailbox, one set of sequence numbers): make one call at a time. Calls from several threads at
once do not corrupt anything (each is a task, pipelined as with `AsyncClient`), but what they
do to the session's state interleaves. Unsolicited-response handlers (`on_unsolicited`) run in
the event loop thread and must not call blocking methods. An interruption in the calling
thread while it waits (Ctrl-C: `KeyboardInterrupt`) cancels the call, closes the connection
without LOGOUT and stops the background thread before the exception propagates: nothing is
left running. A `Client` that is never closed stops its thread when it is garbage collected
(and the thread is a daemon: it never holds up the interpreter's exit).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import logging
import ssl
import threading
import typing
import weakref
from collections.abc import AsyncIterable, Awaitable, Callable, Generator, Iterator
from concurrent.futures import CancelledError, Future
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass, field
from types import TracebackType
from typing import (
    Any,
    Concatenate,
    Generic,
    Literal,
    ParamSpec,
    Protocol,
    Self,
    TypeVar,
    cast,
    overload,
)

import anyio
import anyio.abc
from anyio.from_thread import BlockingPortal, start_blocking_portal

from imap_wire import DEFAULT_CLIENT_LIMITS, Limits, Registry, Response, StatusResponse
from imap_wire.sasl import ClientMechanism

from ._core import UnsolicitedHandler
from ._idle import IdleSession
from ._streaming import FetchStream
from .client import AsyncClient
from .errors import ConnectionLost, ImapConnectionError
from .state import MailboxState

__all__ = ["Client"]

log = logging.getLogger("imap_client")

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")
T = TypeVar("T")
A = TypeVar("A")

Kind = Literal["call", "context", "iterator"]

#: `AsyncClient` methods with a sync counterpart of another name. ``close`` is the IMAP CLOSE
#: command (expunge, leave the mailbox) in `AsyncClient`, but in a blocking API ``close()``
#: ends the connection (``with``, `contextlib.closing`, every sync client): keeping the async
#: meaning would make a ``close()`` meant as a disconnect expunge messages.
RENAMED = {"aclose": "close"}
#: `AsyncClient` coroutine methods with no sync counterpart, and why.
NOT_MIRRORED = {
    "submit": "returns a PendingCommand to await: use Client.call(lambda c: ...) instead",
}


# -- the event loop thread ----------------------------------------------------------------------


@dataclass(slots=True)
class _Stop:
    """How a `_Runtime`'s host task is asked to end: `graceful` (LOGOUT) or not."""

    event: anyio.Event = field(default_factory=anyio.Event)
    graceful: bool = False

    def request(self, graceful: bool) -> None:
        self.graceful = graceful
        self.event.set()

    def request_hard(self) -> None:
        """Close at once, unless a graceful close is already under way."""
        if not self.event.is_set():
            self.request(False)


#: The long-lived task that owns a resource: opens it, reports ``task_status.started(value)``,
#: waits for ``stop.event`` and closes it (with care when ``stop.graceful``). It may shield
#: itself from cancellation once open: `_Runtime.stop_thread` sets ``stop`` before it cancels.
HostTask = Callable[..., Awaitable[None]]


class _Runtime:
    """An event loop in a daemon thread (a `BlockingPortal`) and the host task that owns one
    resource in it (a connection, a pool). Shared by `Client` and `imap_client.pool.Pool`."""

    def __init__(self, name: str, backend: str) -> None:
        self._name = name
        self.loop_thread: int | None = None
        self._stop: _Stop | None = None
        self._host: Future[None] | None = None
        self._cm: AbstractContextManager[BlockingPortal] | None = start_blocking_portal(
            backend, name=name
        )
        self.portal = self._cm.__enter__()
        try:
            self.loop_thread = self.portal.call(threading.get_ident)
        except BaseException:
            self.stop_thread()
            raise

    def start(self, host: HostTask) -> Any:
        """Start ``host(stop, task_status=...)``; return what it passed to ``started``.

        On failure (or an interruption) the thread is stopped before the exception propagates.
        """
        try:
            self._stop = self.portal.call(_Stop)
            self._host, value = self.portal.start_task(host, self._stop, name=self._name)
        except BaseException:
            self.stop_thread()
            raise
        return value

    def in_loop_thread(self) -> bool:
        return threading.get_ident() == self.loop_thread

    def finish(self, *, graceful: bool) -> None:
        """Ask the host task to close its resource, wait for it, then stop the thread.

        Raises what the host task's closing raised (after the thread has stopped).
        """
        try:
            host, stop = self._host, self._stop
            if host is not None and stop is not None and not host.done():
                self.portal.call(stop.request, graceful)
                with contextlib.suppress(CancelledError):
                    host.result()
        finally:
            self.stop_thread()

    def stop_thread(self) -> None:
        """Cancel whatever still runs (the host task closes its resource, without LOGOUT) and
        end the thread. Idempotent; from the loop thread itself it cannot wait, so it only
        asks."""
        cm, self._cm = self._cm, None
        if cm is None:
            return
        if self.in_loop_thread():
            # Cannot wait for itself: another thread does it.
            threading.Thread(target=self._stop_now, args=(cm,), daemon=True).start()
        else:
            self._stop_now(cm)

    def _stop_now(self, cm: AbstractContextManager[BlockingPortal]) -> None:
        with contextlib.suppress(RuntimeError):  # already stopped
            if self._stop is not None:  # the host task is shielded: it is told instead
                self.portal.call(self._stop.request_hard)
            self.portal.call(self.portal.stop, True)
        cm.__exit__(None, None, None)  # joins the thread


def _wait(future: Future[T], on_interrupt: Callable[[], None]) -> T:
    """``future.result()``; if the wait itself is interrupted (``KeyboardInterrupt``), cancel
    the task and call ``on_interrupt`` before re-raising."""
    try:
        return future.result()
    except CancelledError:
        # The task was cancelled under us: the client was closed (by another thread).
        raise ConnectionLost("connection closed by the client") from None
    except BaseException:
        if not future.done():
            future.cancel()
            on_interrupt()
        raise


# -- the descriptors that make blocking methods ------------------------------------------------

#: What a descriptor turns a call into: ``make(client, start)``, where ``start()`` (run in the
#: event loop) calls the `AsyncClient` method with the caller's arguments.
Maker = Callable[["Client", Callable[[], Any]], Any]


class _Mirror(Generic[P, S]):
    """A `Client` attribute made from an `AsyncClient` method: on a `Client` it gives a function
    with the same parameters (through ``P``: what mypy checks), docstring and
    `inspect.signature`, returning what ``make`` makes of the call (``S``)."""

    def __init__(self, method: Callable[..., Any], make: Maker, kind: Kind) -> None:
        self.async_name: str = method.__name__
        self.name = RENAMED.get(self.async_name, self.async_name)
        self.kind = kind
        self.make = make
        self.__doc__ = method.__doc__
        #: False when added by `_mirror_undeclared` (mypy does not see it).
        self.declared = True
        signature = inspect.signature(method)
        params = list(signature.parameters.values())[1:]  # without self
        returns = signature.return_annotation if kind == "call" else signature.empty
        self.signature = signature.replace(parameters=params, return_annotation=returns)

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, instance: Client, owner: type[Any]) -> Callable[P, S]: ...
    def __get__(self, instance: Client | None, owner: type[Any]) -> Self | Callable[P, S]:
        if instance is None:
            return self
        name, make = self.async_name, self.make

        def blocking(*args: P.args, **kwargs: P.kwargs) -> S:
            method = getattr(instance.async_client, name)  # an override in a subclass counts
            return cast(S, make(instance, functools.partial(method, *args, **kwargs)))

        blocking.__name__ = self.name
        blocking.__qualname__ = f"Client.{self.name}"
        blocking.__doc__ = self.__doc__
        blocking.__signature__ = self.signature  # type: ignore[attr-defined]
        return blocking

    def __repr__(self) -> str:
        return f"<blocking {self.kind} Client.{self.name} from AsyncClient.{self.async_name}>"


class _Blocking(_Mirror[P, R]):
    """``name = _Blocking(AsyncClient.name)``: a blocking method from a coroutine method."""

    def __init__(self, method: Callable[Concatenate[AsyncClient, P], Awaitable[R]]) -> None:
        super().__init__(method, lambda client, start: client._run(start), "call")


class _BlockingContext(_Mirror[P, AbstractContextManager[T]]):
    """``name = _BlockingContext(AsyncClient.name)``: a method returning an async context
    manager becomes one returning a context manager (entered and left in one task)."""

    def __init__(
        self, method: Callable[Concatenate[AsyncClient, P], AbstractAsyncContextManager[T]]
    ) -> None:
        super().__init__(method, _SyncContext, "context")


class _BlockingIterator(_Mirror[P, "BlockingIterator[T]"]):
    """``name = _BlockingIterator(AsyncClient.name)``: a method returning an async iterable
    (an async generator) becomes one returning a `BlockingIterator`, driven from one task."""

    def __init__(self, method: Callable[Concatenate[AsyncClient, P], AsyncIterable[T]]) -> None:
        super().__init__(method, BlockingIterator, "iterator")


class _BlockingAs(_Mirror[P, S]):
    """``name = _BlockingAs(AsyncClient.name, Wrapper)``: a method returning an async object
    with methods of its own (`IdleSession`) becomes one returning ``Wrapper(client, start)``,
    a blocking counterpart written for it."""

    def __init__(
        self,
        method: Callable[Concatenate[AsyncClient, P], A],
        wrapper: Callable[[Client, Callable[[], A]], S],
    ) -> None:
        kind = async_kind(method) or "call"
        super().__init__(method, cast(Maker, wrapper), kind)


def async_kind(function: object) -> Kind | None:
    """What kind of async method ``function`` is (None: not an async one).

    ``async def`` is a "call"; an async generator function, or a function returning an async
    iterator, an "iterator"; an ``@asynccontextmanager`` function, or a function returning an
    async context manager (as `AsyncClient.idle` returns an `IdleSession`), a "context".
    """
    if not callable(function):
        return None
    if inspect.iscoroutinefunction(function):
        return "call"
    if inspect.isasyncgenfunction(function):
        return "iterator"
    wrapped = getattr(function, "__wrapped__", None)
    if wrapped is not None and inspect.isasyncgenfunction(wrapped):
        return "context"  # contextlib.asynccontextmanager
    try:
        returns: Any = typing.get_type_hints(function).get("return")
    except Exception:  # an annotation that does not resolve at run time: read its text
        try:
            returns = str(inspect.signature(function).return_annotation)
        except (TypeError, ValueError):
            return None
    if isinstance(returns, str):
        if "AsyncContextManager" in returns:
            return "context"
        if any(name in returns for name in ("AsyncIterator", "AsyncIterable", "AsyncGenerator")):
            return "iterator"
        return None
    returns = typing.get_origin(returns) or returns
    if not isinstance(returns, type):
        return None
    if hasattr(returns, "__aenter__"):
        return "context"
    if hasattr(returns, "__aiter__"):
        return "iterator"
    return None


def public_async_methods(cls: type[Any] = AsyncClient) -> dict[str, Kind]:
    """The public async methods of ``cls`` (`AsyncClient`) by name, with their kind."""
    methods: dict[str, Kind] = {}
    for name in dir(cls):
        if name.startswith("_"):
            continue
        attr = inspect.getattr_static(cls, name)
        if isinstance(attr, staticmethod | classmethod | property):
            continue
        kind = async_kind(attr)
        if kind is not None:
            methods[name] = kind
    return methods


async def _own(
    client: AsyncClient, stop: _Stop, *, task_status: anyio.abc.TaskStatus[StatusResponse]
) -> None:
    """The task that owns a `Client`'s connection: connects, waits, logs out / closes."""
    with anyio.CancelScope() as scope:
        greeting = await client.connect()
        # The client's task group is now open in this task, inside ``scope``, and must be left
        # from here: cancelling this task from outside would break that (a cancelled
        # `ClientBase.aclose` stops before leaving it). So from now on nothing outside cancels
        # this task: ``stop`` says when to close, and how (`_Runtime.stop_thread` sets it).
        scope.shield = True
        try:
            task_status.started(greeting)
            await stop.event.wait()
        finally:
            try:
                if stop.graceful:
                    await client.logout()  # bounded by the client (10 s at most)
            finally:
                await client.aclose()


# -- driving async context managers and iterators from one task ------------------------------


class _Runner(Protocol):
    """What runs tasks for `_SyncContext`: a `Client`, or `imap_client.pool.Pool`."""

    @property
    def _portal(self) -> BlockingPortal | None: ...

    def _require_portal(self) -> BlockingPortal: ...

    def _abort(self) -> None: ...


class _SyncContext(AbstractContextManager[T]):
    """A context manager entering and leaving an async context manager in one task of the
    client's loop (as `BlockingPortal.wrap_async_context_manager`, plus the client's handling
    of interruptions)."""

    def __init__(
        self, client: _Runner, start: Callable[[], AbstractAsyncContextManager[T]]
    ) -> None:
        self._client = client
        self._factory = start
        self._future: Future[bool | None] | None = None
        self._leave: _Leave | None = None

    def __enter__(self) -> T:
        client = self._client
        portal = client._require_portal()
        try:
            self._future, (value, self._leave) = portal.start_task(_hold_context, self._factory)
        except BaseException as exc:
            if not isinstance(exc, Exception):
                client._abort()
            raise
        return cast(T, value)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        client, future, leave = self._client, self._future, self._leave
        assert future is not None and leave is not None, "not entered"
        portal = client._portal
        if portal is not None:
            with contextlib.suppress(RuntimeError):
                portal.call(leave.request, exc_type, exc, tb)
        try:
            suppress = _wait(future, client._abort)
        except BaseException as raised:
            # The body's own exception goes on, rather than the ConnectionLost of a client
            # closed meanwhile (after Ctrl-C, say).
            if raised is exc or (exc is not None and isinstance(raised, ConnectionLost)):
                return False
            raise
        return bool(suppress)


class BlockingIterator(Iterator[T], AbstractContextManager["BlockingIterator[T]"]):
    """An `AsyncClient` async iterator, iterated from a blocking caller.

    One task of the client's loop owns the async iterator: it is created when iteration
    starts, advanced only when the caller asks for the next item (no read-ahead), and closed
    when the caller stops (exhausted, ``break`` then garbage collection, `close`, or the end
    of a ``with`` block), between two items, as ``async for`` would.
    """

    def __init__(self, client: Client, start: Callable[[], AsyncIterable[T]]) -> None:
        self._client = client
        self._iterable: AsyncIterable[T] | None = None
        self._steps = self._run(start)

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> T:
        return next(self._steps)

    def close(self) -> None:
        """Stop iterating (closes the async iterator). Idempotent."""
        self._steps.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self, start: Callable[[], AsyncIterable[T]]) -> Generator[T, None, None]:
        client = self._client
        portal = client._require_portal()
        steps: Future[None]
        try:
            steps, (requests, outcomes, self._iterable) = portal.start_task(_drive_iterator, start)
        except BaseException as exc:
            if not isinstance(exc, Exception):
                client._abort()
            raise
        try:
            while True:
                outcome = client._run(functools.partial(_next_outcome, requests, outcomes))
                if outcome.finished:
                    break
                if outcome.lost:  # the driving task ended without a word: say why
                    _wait(steps, client._abort)
                    raise ConnectionLost("connection closed by the client")
                if outcome.error is not None:
                    raise outcome.error
                yield cast(T, outcome.value)
        finally:
            if not client._in_loop_thread():
                with contextlib.suppress(RuntimeError):  # the client is closed
                    portal.call(_close_channels, requests, outcomes)
                with contextlib.suppress(ConnectionLost):
                    _wait(steps, client._abort)


class BlockingFetchStream(BlockingIterator[bytes]):
    """``for chunk in client.fetch_stream(...)``: the blocking form of `FetchStream`; use it
    as ``with`` (or call `close`) to stop early cleanly."""

    def __init__(self, client: Client, start: Callable[[], FetchStream]) -> None:
        super().__init__(client, start)

    @property
    def size(self) -> int | None:
        """The literal's size once known (streamed bodies only, once iteration started)."""
        stream = self._iterable
        return stream.size if isinstance(stream, FetchStream) else None


class BlockingIdleSession(AbstractContextManager["BlockingIdleSession"], Iterator[Response]):
    """``with client.idle() as updates:``: the blocking form of `IdleSession`.

    Entering sends IDLE (and returns once the server answered ``+``), leaving sends DONE: both
    in one task of the client's loop, which keeps the `IdleSession` (and its restarts) going
    in between. Iterating yields each update (an untagged response) as it comes; `wait`
    takes what is there, with a timeout::

        with client.idle() as updates:
            for update in updates:
                if isinstance(update, ExistsResponse):
                    break

        with client.idle() as updates:
            batch = updates.wait(60)  # [] after 60 s without news
    """

    def __init__(self, client: Client, start: Callable[[], IdleSession]) -> None:
        self._client = client
        self._context = _SyncContext(client, start)
        self._session: IdleSession | None = None

    def __enter__(self) -> Self:
        self._session = self._context.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        return self._context.__exit__(exc_type, exc, tb)

    def _entered(self) -> IdleSession:
        if self._session is None:
            raise RuntimeError("enter the session (with client.idle() as updates) first")
        return self._session

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> Response:
        """The next update; waits as long as it takes (see `wait` for a timeout)."""
        update = self._client._run(functools.partial(_next_update, self._entered()))
        if update is None:
            raise StopIteration
        return update

    def wait(self, timeout: float | None = None) -> list[Response]:
        """Return the updates waiting, or wait up to ``timeout`` seconds for the first one
        (``[]`` if none came). See `IdleSession.wait`."""
        return self._client._run(functools.partial(self._entered().wait, timeout))

    @property
    def restarts(self) -> int:
        """How many times IDLE was re-issued (or NOOP sent, when polling)."""
        return self._entered().restarts

    @property
    def dropped(self) -> int:
        """Updates dropped because too many were waiting unread."""
        return self._entered().dropped

    @property
    def polling(self) -> bool:
        """True when the server lacks IDLE and the session polls with NOOP."""
        return self._entered().polling


async def _next_update(session: IdleSession) -> Response | None:
    try:
        return await anext(session)
    except StopAsyncIteration:
        return None


# -- the client ---------------------------------------------------------------------------------


class Client:
    """A blocking IMAP client: `AsyncClient` run in a background event loop thread.

    ``with Client(host, ...) as client:`` connects, and at the end logs out and closes (or
    only closes, if the block ends with ``KeyboardInterrupt`` or another non-``Exception``).
    Without ``with``: `connect`, then `logout` or `close`.

    Every `AsyncClient` coroutine method is here as a blocking method of the same name,
    parameters and docstring, except ``aclose``, which is `close`, and IMAP CLOSE, which is
    `close_mailbox`; exceptions propagate unchanged. See the module's documentation for the
    names, threads and interruptions.

    ``host``, ``port``, ``tls``, ``starttls``, ``ssl_context``, ``connect_timeout``,
    ``timeout``, ``registry`` and ``limits`` are as for `AsyncClient` (see `ClientBase`).

    Args:
        backend: The event loop the background thread runs: ``"asyncio"`` or ``"trio"``.
    """

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        tls: bool = True,
        starttls: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout: float = 30.0,
        timeout: float | None = 120.0,
        registry: Registry | None = None,
        limits: Limits = DEFAULT_CLIENT_LIMITS,
        backend: str = "asyncio",
    ) -> None:
        self._async = AsyncClient(
            host, port, tls=tls, starttls=starttls, ssl_context=ssl_context,
            connect_timeout=connect_timeout, timeout=timeout, registry=registry, limits=limits,
        )  # fmt: skip
        self._backend = backend
        self._lock = threading.Lock()
        self._runtime: _Runtime | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        # Where calls run: the own runtime's portal, or the pool's for a pooled client.
        self._portal: BlockingPortal | None = None
        self._loop_thread: int | None = None
        self._pooled = False
        self._was_connected = False

    @classmethod
    def _attached(
        cls, client: AsyncClient, portal: BlockingPortal, loop_thread: int | None
    ) -> Client:
        """A `Client` over a connection someone else owns (`Pool`): no connect / close."""
        self = cls.__new__(cls)
        self._async = client
        self._backend = ""
        self._lock = threading.Lock()
        self._runtime = None
        self._finalizer = None
        self._portal = portal
        self._loop_thread = loop_thread
        self._pooled = True
        self._was_connected = True
        return self

    def __repr__(self) -> str:
        state = "open" if self._portal is not None else "closed"
        return f"<Client {self._async.host}:{self._async.port} {state}>"

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        if self._runtime is None:
            self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._pooled:
            return
        self._shutdown(graceful=exc_type is None or issubclass(exc_type, Exception))

    def connect(self) -> StatusResponse:
        """Start the background thread and open the connection (and TLS); return the greeting.

        Raises:
            ImapConnectionError: The connection, the TLS handshake or the greeting failed.
            ImapTimeout: Over ``connect_timeout``.
            RuntimeError: Already connected.
        """
        self._check_own("connect")
        with self._lock:
            if self._runtime is not None:
                raise RuntimeError("already connected")
            client = self._async
            runtime = _Runtime(f"imap-client {client.host}:{client.port}", self._backend)
            # The task holds the AsyncClient, not this object, which stays collectable.
            greeting = cast(StatusResponse, runtime.start(functools.partial(_own, client)))
            self._runtime = runtime
            self._portal = runtime.portal
            self._loop_thread = runtime.loop_thread
            self._was_connected = True
            self._finalizer = weakref.finalize(self, runtime.stop_thread)
        return greeting

    def close(self) -> None:
        """Close the connection (without LOGOUT) and stop the background thread; pending
        calls fail with `ConnectionLost`. Idempotent."""
        self._check_own("close")
        self._shutdown(graceful=False)

    def logout(self) -> None:
        """LOGOUT, then close (as `close`). Idempotent; a connection already gone is not an
        error."""
        self._check_own("logout")
        self._shutdown(graceful=True)

    def _shutdown(self, *, graceful: bool) -> None:
        with self._lock:
            runtime, self._runtime = self._runtime, None
            self._portal = None
            if self._finalizer is not None:
                self._finalizer.detach()
                self._finalizer = None
        if runtime is not None:
            runtime.finish(graceful=graceful)

    def _abort(self) -> None:
        """After an interruption: close without LOGOUT, stop the thread (never waits long)."""
        if self._pooled:
            return  # the pool's context managers see the interruption and discard it
        with self._lock:
            runtime, self._runtime = self._runtime, None
            self._portal = None
            if self._finalizer is not None:
                self._finalizer.detach()
                self._finalizer = None
        if runtime is not None:
            runtime.stop_thread()

    def _check_own(self, what: str) -> None:
        if self._pooled:
            raise RuntimeError(f"{what}(): a pooled connection is opened and closed by its pool")

    # -- running coroutines in the loop ----------------------------------------------------------

    def _require_portal(self) -> BlockingPortal:
        portal = self._portal
        if portal is None:
            if self._was_connected:
                raise ConnectionLost("connection closed by the client")
            raise ImapConnectionError("not connected")
        if threading.get_ident() == self._loop_thread:
            raise RuntimeError(
                "a blocking Client method was called from the client's own event loop thread "
                "(an unsolicited-response handler?)"
            )
        return portal

    def _in_loop_thread(self) -> bool:
        return threading.get_ident() == self._loop_thread

    def _submit(self, portal: BlockingPortal, func: Callable[[], Awaitable[T]]) -> Future[T]:
        try:
            return portal.start_task_soon(func)
        except RuntimeError:  # the portal stopped under us (closed from another thread)
            raise ConnectionLost("connection closed by the client") from None

    def _run(self, start: Callable[[], Awaitable[T]]) -> T:
        """Run ``await start()`` as a task of the loop; wait for its result."""
        portal = self._require_portal()
        return _wait(self._submit(portal, start), self._abort)

    def call(
        self,
        func: Callable[Concatenate[AsyncClient, P], Awaitable[R]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        """Run ``await func(async_client, *args, **kwargs)`` in the client's event loop (as a
        task of its own) and return the result: the way to what `AsyncClient` offers and this
        class does not (`AsyncClient.submit`, an extension's coroutine function).

        Example::

            async def submitted(client: AsyncClient, command: Command) -> StatusResponse:
                pending = await client.submit(PendingCommand(command))
                return await pending.wait()


            result = client.call(submitted, command)
        """
        return self._run(functools.partial(func, self._async, *args, **kwargs))

    # -- state -----------------------------------------------------------------------------------

    @property
    def async_client(self) -> AsyncClient:
        """The `AsyncClient` underneath. Its coroutines must run in the client's event loop
        (see `call`)."""
        return self._async

    @property
    def host(self) -> str:
        return self._async.host

    @property
    def port(self) -> int:
        return self._async.port

    @property
    def capabilities(self) -> frozenset[str]:
        """The server's capabilities as last announced (upper case)."""
        return self._async.capabilities

    def has_capability(self, name: str) -> bool:
        return self._async.has_capability(name)

    @property
    def mailbox(self) -> MailboxState:
        """A snapshot of the selected mailbox's state (a copy: it does not change later)."""
        state = self._async.mailbox
        portal = self._portal
        if portal is None or threading.get_ident() == self._loop_thread:
            return copy.deepcopy(state)
        with contextlib.suppress(RuntimeError):
            return portal.call(copy.deepcopy, state)
        return copy.deepcopy(state)

    @property
    def is_closed(self) -> bool:
        """Whether the connection has ended (or was never opened)."""
        if self._portal is None:
            return True
        try:
            return self._async.closed.is_set()
        except ImapConnectionError:
            return True

    @property
    def close_cause(self) -> BaseException | None:
        """Why the connection ended (None while it is open)."""
        try:
            return self._async.close_cause
        except ImapConnectionError:
            return None

    def on_unsolicited(self, handler: UnsolicitedHandler) -> Callable[[], None]:
        """Call ``handler(response)`` for every untagged response no command claimed; returns
        a function that unregisters it. The handler runs in the event loop thread: keep it
        short, and do not call blocking `Client` methods from it."""
        return self._async.on_unsolicited(handler)

    # -- the commands (one line each; see the module's documentation) ---------------------------

    def authenticate(
        self,
        mechanism: ClientMechanism | str,
        *args: Any,
        initial_response: bool | None = None,
        **kwargs: Any,
    ) -> None:
        # Written out: with ``**kwargs``, mypy maps the method only if its ``self`` is
        # positional-only (``def authenticate(self, /, ...)``); the parity test checks it.
        start = functools.partial(
            self._async.authenticate,
            mechanism,
            *args,
            initial_response=initial_response,
            **kwargs,
        )
        return self._run(start)

    authenticate.__doc__ = AsyncClient.authenticate.__doc__

    # Any state (ClientBase).
    capability = _Blocking(AsyncClient.capability)
    noop = _Blocking(AsyncClient.noop)
    id = _Blocking(AsyncClient.id)
    enable = _Blocking(AsyncClient.enable)
    enable_best = _Blocking(AsyncClient.enable_best)

    # Authentication (ClientBase, AuthCommands).
    login = _Blocking(AsyncClient.login)
    login_best = _Blocking(AsyncClient.login_best)
    login_plain = _Blocking(AsyncClient.login_plain)
    login_login = _Blocking(AsyncClient.login_login)
    login_cram_md5 = _Blocking(AsyncClient.login_cram_md5)
    login_scram = _Blocking(AsyncClient.login_scram)
    login_oauth2 = _Blocking(AsyncClient.login_oauth2)
    login_external = _Blocking(AsyncClient.login_external)

    # Mailboxes (MailboxCommands). IMAP CLOSE is close_mailbox: close() ends the connection.
    select = _Blocking(AsyncClient.select)
    examine = _Blocking(AsyncClient.examine)
    unselect = _Blocking(AsyncClient.unselect)
    close_mailbox = _Blocking(AsyncClient.close_mailbox)
    check = _Blocking(AsyncClient.check)
    create = _Blocking(AsyncClient.create)
    delete = _Blocking(AsyncClient.delete)
    rename = _Blocking(AsyncClient.rename)
    subscribe = _Blocking(AsyncClient.subscribe)
    unsubscribe = _Blocking(AsyncClient.unsubscribe)
    list = _Blocking(AsyncClient.list)
    lsub = _Blocking(AsyncClient.lsub)
    namespace = _Blocking(AsyncClient.namespace)
    status = _Blocking(AsyncClient.status)
    append = _Blocking(AsyncClient.append)

    # Messages (MessageCommands).
    fetch = _Blocking(AsyncClient.fetch)
    search = _Blocking(AsyncClient.search)
    esearch = _Blocking(AsyncClient.esearch)
    store = _Blocking(AsyncClient.store)
    copy = _Blocking(AsyncClient.copy)
    move = _Blocking(AsyncClient.move)
    expunge = _Blocking(AsyncClient.expunge)
    uid_expunge = _Blocking(AsyncClient.uid_expunge)

    # IDLE (IdleCommands): ``predicate`` runs in the event loop thread.
    idle = _BlockingAs(AsyncClient.idle, BlockingIdleSession)
    idle_until = _Blocking(AsyncClient.idle_until)

    # Streaming (StreamingCommands): sinks are written and sources read in the loop thread.
    fetch_stream = _BlockingAs(AsyncClient.fetch_stream, BlockingFetchStream)
    fetch_to = _Blocking(AsyncClient.fetch_to)
    append_from = _Blocking(AsyncClient.append_from)


@dataclass(slots=True)
class _Leave:
    """Tells `_hold_context` to leave, with the exception the ``with`` body raised."""

    event: anyio.Event = field(default_factory=anyio.Event)
    exc_info: tuple[Any, Any, Any] = (None, None, None)

    def request(self, *exc_info: Any) -> None:
        self.exc_info = exc_info
        self.event.set()


async def _hold_context(
    factory: Callable[[], AbstractAsyncContextManager[Any]],
    *,
    task_status: anyio.abc.TaskStatus[tuple[Any, _Leave]],
) -> bool | None:
    leave = _Leave()
    manager = factory()
    value = await manager.__aenter__()
    try:
        task_status.started((value, leave))
        await leave.event.wait()
    except BaseException as exc:  # cancelled: the client is being closed
        if await manager.__aexit__(type(exc), exc, exc.__traceback__):
            return None
        raise
    return await manager.__aexit__(*leave.exc_info)


@dataclass(frozen=True, slots=True)
class _Outcome:
    """One step of an iterator driven by `_drive_iterator`."""

    value: Any = None
    error: Exception | None = None
    finished: bool = False
    lost: bool = False


async def _drive_iterator(
    open_iterable: Callable[[], AsyncIterable[Any]],
    *,
    task_status: anyio.abc.TaskStatus[tuple[Any, Any, Any]],
) -> None:
    """Own an async iterator: advance it once per request, report each outcome; close it
    when the requests end (the sync iterator was closed) or it is exhausted."""
    requests_in, requests = anyio.create_memory_object_stream[None](1)
    outcomes, outcomes_out = anyio.create_memory_object_stream[_Outcome](1)
    iterable = open_iterable()
    task_status.started((requests_in, outcomes_out, iterable))
    iterator = aiter(iterable)
    try:
        async with requests, outcomes:
            async for _ in requests:
                try:
                    item = await anext(iterator)
                except StopAsyncIteration:
                    await outcomes.send(_Outcome(finished=True))
                    return
                except Exception as exc:
                    await outcomes.send(_Outcome(error=exc))
                    return
                await outcomes.send(_Outcome(value=item))
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()


def _close_channels(*channels: Any) -> None:
    for channel in channels:
        channel.close()


async def _next_outcome(requests: Any, outcomes: Any) -> _Outcome:
    try:
        await requests.send(None)
        return cast(_Outcome, await outcomes.receive())
    except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
        return _Outcome(lost=True)


# -- mirroring methods nobody declared yet ------------------------------------------------------


def _mirror_undeclared(cls: type[Client]) -> list[str]:
    """Give ``cls`` a blocking method for every public async method of `AsyncClient` that its
    body does not declare (untyped until declared; the parity test lists them)."""
    added = []
    for name, kind in public_async_methods(AsyncClient).items():
        sync_name = RENAMED.get(name, name)
        if name in NOT_MIRRORED or hasattr(cls, sync_name):
            continue
        method = getattr(AsyncClient, name)
        descriptor: _Mirror[..., Any] = (
            _Blocking(method)
            if kind == "call"
            else _BlockingContext(method)
            if kind == "context"
            else _BlockingIterator(method)
        )
        descriptor.declared = False
        descriptor.__set_name__(cls, sync_name)
        setattr(cls, sync_name, descriptor)
        added.append(sync_name)
    return added


_mirror_undeclared(Client)
