"""The IMAP connection state machine, shared by client and server.

RFC 9051 section 3 defines four connection states and section 6 lists, command by command, the
states each is valid in. Both live here as tables; :class:`StateMachine` applies them to one
connection. It holds no I/O and checks no syntax: the caller reports tagged completions and the
greeting, and asks whether a command may be sent (client) or accepted (server).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

__all__ = [
    "COMMAND_STATES",
    "TRANSITIONS",
    "ConnectionState",
    "StateMachine",
    "allowed_states",
]


class ConnectionState(enum.Enum):
    """The connection states of RFC 9051 section 3."""

    NOT_AUTHENTICATED = "not authenticated"
    """Before LOGIN or AUTHENTICATE (RFC 9051 section 3.1)."""
    AUTHENTICATED = "authenticated"
    """Authenticated, no mailbox selected (RFC 9051 section 3.2)."""
    SELECTED = "selected"
    """A mailbox is selected (RFC 9051 section 3.3)."""
    LOGOUT = "logout"
    """The connection is being terminated; no command is valid (RFC 9051 section 3.4)."""


_NOT_AUTH = ConnectionState.NOT_AUTHENTICATED
_AUTH = ConnectionState.AUTHENTICATED
_SELECTED = ConnectionState.SELECTED
_LOGOUT = ConnectionState.LOGOUT

# "Any state" in RFC 9051 section 6.1 means any state a command can still be sent in.
_ANY = frozenset({_NOT_AUTH, _AUTH, _SELECTED})
_NOT_AUTH_ONLY = frozenset({_NOT_AUTH})
_AUTH_ONLY = frozenset({_AUTH})
_AUTH_OR_SELECTED = frozenset({_AUTH, _SELECTED})
_SELECTED_ONLY = frozenset({_SELECTED})

COMMAND_STATES: Mapping[str, frozenset[ConnectionState]] = MappingProxyType(
    {
        # RFC 9051 section 6.1; ID is RFC 2971 section 3.1.
        "CAPABILITY": _ANY,
        "NOOP": _ANY,
        "LOGOUT": _ANY,
        "ID": _ANY,
        # RFC 9051 section 6.2.
        "STARTTLS": _NOT_AUTH_ONLY,
        "AUTHENTICATE": _NOT_AUTH_ONLY,
        "LOGIN": _NOT_AUTH_ONLY,
        # RFC 9051 section 6.3.1 and RFC 5161 section 3.1: "only valid in the authenticated
        # state, before any mailbox is selected"; section 6.4 leaves it out of the selected list.
        "ENABLE": _AUTH_ONLY,
        # RFC 9051 sections 6.3 and 6.4; IDLE also RFC 2177, LSUB RFC 3501 section 6.3.9,
        # NAMESPACE RFC 2342 section 5.
        "SELECT": _AUTH_OR_SELECTED,
        "EXAMINE": _AUTH_OR_SELECTED,
        "CREATE": _AUTH_OR_SELECTED,
        "DELETE": _AUTH_OR_SELECTED,
        "RENAME": _AUTH_OR_SELECTED,
        "SUBSCRIBE": _AUTH_OR_SELECTED,
        "UNSUBSCRIBE": _AUTH_OR_SELECTED,
        "LIST": _AUTH_OR_SELECTED,
        "LSUB": _AUTH_OR_SELECTED,
        "NAMESPACE": _AUTH_OR_SELECTED,
        "STATUS": _AUTH_OR_SELECTED,
        "APPEND": _AUTH_OR_SELECTED,
        "IDLE": _AUTH_OR_SELECTED,
        # RFC 9051 section 6.4; CHECK is RFC 3501 section 6.4.1, UNSELECT RFC 3691, MOVE
        # RFC 6851, UID EXPUNGE RFC 4315 section 2.1.
        "CHECK": _SELECTED_ONLY,
        "CLOSE": _SELECTED_ONLY,
        "UNSELECT": _SELECTED_ONLY,
        "EXPUNGE": _SELECTED_ONLY,
        "SEARCH": _SELECTED_ONLY,
        "FETCH": _SELECTED_ONLY,
        "STORE": _SELECTED_ONLY,
        "COPY": _SELECTED_ONLY,
        "MOVE": _SELECTED_ONLY,
        "UID": _SELECTED_ONLY,
        "UID FETCH": _SELECTED_ONLY,
        "UID STORE": _SELECTED_ONLY,
        "UID COPY": _SELECTED_ONLY,
        "UID MOVE": _SELECTED_ONLY,
        "UID SEARCH": _SELECTED_ONLY,
        "UID EXPUNGE": _SELECTED_ONLY,
    }
)
"""The states each IMAP4rev1 and IMAP4rev2 command is valid in (RFC 9051 section 6).

Names are upper case; UID forms are written ``"UID FETCH"``. No command is valid in
:attr:`ConnectionState.LOGOUT`.
"""

TRANSITIONS: Mapping[tuple[str, str], ConnectionState] = MappingProxyType(
    {
        # RFC 9051 section 3, transition (4).
        ("LOGIN", "OK"): _AUTH,
        ("AUTHENTICATE", "OK"): _AUTH,
        # Transition (5).
        ("SELECT", "OK"): _SELECTED,
        ("EXAMINE", "OK"): _SELECTED,
        # Transition (6). SELECT deselects before trying, so a NO leaves no mailbox selected
        # (RFC 9051 section 6.3.2). A BAD is absent on purpose: "a rejected command (BAD
        # response) never changes the state of the connection or of the selected mailbox"
        # (RFC 9051 section 6), and servers reject bad syntax before touching the mailbox.
        ("SELECT", "NO"): _AUTH,
        ("EXAMINE", "NO"): _AUTH,
        ("CLOSE", "OK"): _AUTH,
        ("UNSELECT", "OK"): _AUTH,
        # Transition (7). Any completion ends the session: the side that sent LOGOUT is done
        # with the connection whatever the answer (RFC 9051 section 3.4).
        ("LOGOUT", "OK"): _LOGOUT,
        ("LOGOUT", "NO"): _LOGOUT,
        ("LOGOUT", "BAD"): _LOGOUT,
    }
)
"""State changes on a tagged completion, keyed by (command name, status).

Each applies only when the command was valid in the state it was sent in; every other
completion leaves the state unchanged (RFC 9051 section 6).
"""

_STATUSES = frozenset({"OK", "NO", "BAD"})


def _command_key(command_name: str) -> str:
    # Callers pass names as parsed ("uid  fetch"); the tables use one spelling.
    return " ".join(command_name.upper().split())


def _default_states(key: str) -> frozenset[ConnectionState]:
    # RFC 9051 section 6.5: any other command comes from an extension, needs a capability,
    # hence authentication; UID forms act on messages, hence need a selected mailbox.
    if key.startswith("UID "):
        return _SELECTED_ONLY
    return _AUTH_OR_SELECTED


def allowed_states(command_name: str) -> frozenset[ConnectionState]:
    """Return the states a command is valid in, per RFC 9051 section 6.

    Args:
        command_name: A command name in any case, UID forms as ``"UID FETCH"``.

    Returns:
        The states from :data:`COMMAND_STATES`. A name not there is taken for an extension
        command: authenticated or selected state, selected only for a ``UID`` form.
    """
    key = _command_key(command_name)
    states = COMMAND_STATES.get(key)
    return _default_states(key) if states is None else states


class StateMachine:
    """The connection state of one IMAP connection (RFC 9051 section 3).

    The same object serves both ends: a client asks :meth:`can_send` before writing a command,
    a server asks :meth:`allows` before running one, and both report each tagged completion
    through :meth:`command_completed`. The rule that ENABLE must not follow any SELECT, even
    after CLOSE (RFC 9051 section 6.3.1), is left to the client: servers need not check it.

    Attributes:
        state: The current state. Starts as :attr:`ConnectionState.NOT_AUTHENTICATED`, as after
            an ``OK`` greeting; call :meth:`preauth` or :meth:`bye` for the other greetings.

    Args:
        extra_commands: States for extension commands, by name (``"UID SORT"`` style). They
            override the built-in table, so an extension can also widen a built-in command.
        extra_transitions: Extra state changes by (command name, status), such as
            ``{("UNAUTHENTICATE", "OK"): ConnectionState.NOT_AUTHENTICATED}`` (RFC 8437).
            They override the built-in transitions.
    """

    __slots__ = ("_commands", "_transitions", "state")

    state: ConnectionState

    def __init__(
        self,
        extra_commands: Mapping[str, frozenset[ConnectionState]] | None = None,
        extra_transitions: Mapping[tuple[str, str], ConnectionState] | None = None,
    ) -> None:
        self.state = ConnectionState.NOT_AUTHENTICATED
        commands: dict[str, frozenset[ConnectionState]] = dict(COMMAND_STATES)
        for name, states in (extra_commands or {}).items():
            # No command can run once the connection is being torn down (RFC 9051 section 3.4).
            commands[_command_key(name)] = frozenset(states) - {_LOGOUT}
        transitions: dict[tuple[str, str], ConnectionState] = dict(TRANSITIONS)
        for (name, status), target in (extra_transitions or {}).items():
            transitions[(_command_key(name), _status_key(status))] = target
        self._commands: Mapping[str, frozenset[ConnectionState]] = commands
        self._transitions: Mapping[tuple[str, str], ConnectionState] = transitions

    def __repr__(self) -> str:
        return f"<StateMachine state={self.state.name}>"

    def allowed_states(self, command_name: str) -> frozenset[ConnectionState]:
        """Return the states a command is valid in, extension commands included.

        Args:
            command_name: A command name in any case, UID forms as ``"UID FETCH"``.

        Returns:
            The registered states, or the default of :func:`allowed_states` for unknown names.
        """
        key = _command_key(command_name)
        states = self._commands.get(key)
        return _default_states(key) if states is None else states

    def allows(self, command_name: str) -> bool:
        """Tell whether a command is valid in the current state (RFC 9051 section 6).

        A server answers a command that is not with ``BAD`` or ``NO`` (RFC 9051 section 3).

        Args:
            command_name: A command name in any case, UID forms as ``"UID FETCH"``.

        Returns:
            True if the command may be sent or run now.
        """
        return self.state in self.allowed_states(command_name)

    can_send = allows
    """Client-side name of :meth:`allows`."""

    def command_completed(self, command_name: str, status: str) -> ConnectionState:
        """Apply the tagged completion of a command (RFC 9051 sections 3 and 6).

        Call it once per tagged response, in the order they arrive. A completion of a command
        that is not valid in the current state changes nothing, since the server must have
        rejected it. The current state is the one the server ran the command in, because a
        server runs commands that affect each other in order (RFC 9051 section 5.5); so a
        client may pipeline SELECT after LOGIN and still track the outcome.

        Args:
            command_name: The completed command's name, UID forms as ``"UID FETCH"``.
            status: The tagged status: ``"OK"``, ``"NO"`` or ``"BAD"``, in any case.

        Returns:
            The new state.

        Raises:
            ValueError: ``status`` is not a tagged status.
        """
        status_key = _status_key(status)
        if status_key not in _STATUSES:
            raise ValueError(f"{status!r} is not a tagged status (OK, NO or BAD)")
        key = _command_key(command_name)
        if self.state in self.allowed_states(key):
            target = self._transitions.get((key, status_key))
            if target is not None:
                self.state = target
        return self.state

    def preauth(self) -> ConnectionState:
        """Apply a ``PREAUTH`` greeting (RFC 9051 section 3, transition (2)).

        Only the greeting can pre-authenticate, so this changes only the initial state.

        Returns:
            The new state.
        """
        if self.state is _NOT_AUTH:
            self.state = _AUTH
        return self.state

    def bye(self) -> ConnectionState:
        """Apply an untagged ``BYE``, or the connection closing (RFC 9051 section 3.4).

        Returns:
            :attr:`ConnectionState.LOGOUT`.
        """
        self.state = _LOGOUT
        return self.state


def _status_key(status: str) -> str:
    return status.upper()
