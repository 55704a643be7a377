"""The connection state machine (RFC 9051 sections 3 and 6)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imap_wire._state import (
    COMMAND_STATES,
    TRANSITIONS,
    ConnectionState,
    StateMachine,
    allowed_states,
)

NOT_AUTH = ConnectionState.NOT_AUTHENTICATED
AUTH = ConnectionState.AUTHENTICATED
SELECTED = ConnectionState.SELECTED
LOGOUT = ConnectionState.LOGOUT

STATUSES = ["OK", "NO", "BAD"]
# Every built-in name, plus extension names the table does not know.
COMMANDS = [*COMMAND_STATES, "XPIG-LATIN", "SORT", "UID SORT", "UNAUTHENTICATE", "GETQUOTA"]


def machine_in(
    state: ConnectionState,
    extra_commands: Mapping[str, frozenset[ConnectionState]] | None = None,
) -> StateMachine:
    machine = StateMachine(extra_commands)
    machine.state = state
    return machine


def test_starts_not_authenticated() -> None:
    machine = StateMachine()
    assert machine.state is NOT_AUTH
    assert repr(machine) == "<StateMachine state=NOT_AUTHENTICATED>"


def test_session_walk_through() -> None:
    machine = StateMachine()
    assert machine.can_send("CAPABILITY")
    assert machine.can_send("STARTTLS")
    assert not machine.can_send("SELECT")
    assert machine.command_completed("LOGIN", "NO") is NOT_AUTH
    assert machine.command_completed("LOGIN", "OK") is AUTH
    assert not machine.can_send("LOGIN")
    assert machine.can_send("ENABLE")
    assert not machine.can_send("FETCH")
    assert machine.command_completed("SELECT", "OK") is SELECTED
    assert machine.can_send("UID FETCH")
    assert not machine.can_send("ENABLE")
    assert machine.command_completed("FETCH", "OK") is SELECTED
    assert machine.command_completed("CLOSE", "OK") is AUTH
    assert machine.command_completed("EXAMINE", "OK") is SELECTED
    assert machine.command_completed("UNSELECT", "OK") is AUTH
    assert machine.command_completed("LOGOUT", "OK") is LOGOUT
    assert not machine.can_send("NOOP")


@pytest.mark.parametrize("command", ["LOGIN", "AUTHENTICATE"])
def test_authentication(command: str) -> None:
    assert machine_in(NOT_AUTH).command_completed(command, "OK") is AUTH
    assert machine_in(NOT_AUTH).command_completed(command, "NO") is NOT_AUTH
    assert machine_in(NOT_AUTH).command_completed(command, "BAD") is NOT_AUTH


@pytest.mark.parametrize("command", ["SELECT", "EXAMINE"])
@pytest.mark.parametrize("start", [AUTH, SELECTED])
def test_select(command: str, start: ConnectionState) -> None:
    assert machine_in(start).command_completed(command, "OK") is SELECTED
    # RFC 9051 section 6.3.2: a failed SELECT leaves no mailbox selected.
    assert machine_in(start).command_completed(command, "NO") is AUTH
    # RFC 9051 section 6: a rejected command (BAD) never changes the state.
    assert machine_in(start).command_completed(command, "BAD") is start


@pytest.mark.parametrize("command", ["CLOSE", "UNSELECT"])
def test_close(command: str) -> None:
    assert machine_in(SELECTED).command_completed(command, "OK") is AUTH
    assert machine_in(SELECTED).command_completed(command, "NO") is SELECTED
    assert machine_in(SELECTED).command_completed(command, "BAD") is SELECTED
    # Not valid without a selected mailbox, so the server rejected it: nothing changes.
    assert machine_in(AUTH).command_completed(command, "OK") is AUTH


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("start", [NOT_AUTH, AUTH, SELECTED])
def test_logout(status: str, start: ConnectionState) -> None:
    assert machine_in(start).command_completed("LOGOUT", status) is LOGOUT


def test_greetings() -> None:
    machine = StateMachine()
    assert machine.preauth() is AUTH
    assert machine.can_send("SELECT")
    assert not machine.can_send("LOGIN")
    # A PREAUTH greeting comes first or not at all.
    assert machine_in(SELECTED).preauth() is SELECTED
    assert machine_in(LOGOUT).preauth() is LOGOUT
    for state in ConnectionState:
        assert machine_in(state).bye() is LOGOUT


def test_pipelined_select_after_login() -> None:
    # Completions arrive in order, so SELECT is judged in the state LOGIN left.
    machine = StateMachine()
    machine.command_completed("LOGIN", "OK")
    assert machine.command_completed("SELECT", "OK") is SELECTED


def test_names_are_case_and_space_insensitive() -> None:
    machine = machine_in(SELECTED)
    assert machine.can_send("uid  fetch")
    assert allowed_states("Uid Expunge") == frozenset({SELECTED})
    assert machine.command_completed("close", "ok") is AUTH


def test_invalid_status() -> None:
    with pytest.raises(ValueError, match="not a tagged status"):
        StateMachine().command_completed("LOGIN", "PREAUTH")


@pytest.mark.parametrize(
    ("command", "states"),
    [
        ("CAPABILITY", {NOT_AUTH, AUTH, SELECTED}),
        ("ID", {NOT_AUTH, AUTH, SELECTED}),
        ("STARTTLS", {NOT_AUTH}),
        # RFC 9051 section 6.3.1: ENABLE only before any mailbox is selected.
        ("ENABLE", {AUTH}),
        ("IDLE", {AUTH, SELECTED}),
        ("LSUB", {AUTH, SELECTED}),
        ("NAMESPACE", {AUTH, SELECTED}),
        ("CHECK", {SELECTED}),
        ("MOVE", {SELECTED}),
        ("UID MOVE", {SELECTED}),
        # Extensions default to authenticated or selected; UID forms to selected.
        ("XPIG-LATIN", {AUTH, SELECTED}),
        ("UID SORT", {SELECTED}),
    ],
)
def test_allowed_states(command: str, states: set[ConnectionState]) -> None:
    assert allowed_states(command) == states
    assert StateMachine().allowed_states(command) == states


def test_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        COMMAND_STATES["FOO"] = frozenset()  # type: ignore[index]


def test_extension_commands_and_transitions() -> None:
    # RFC 8437 UNAUTHENTICATE, and RFC 5256 SORT as a selected-state command.
    machine = StateMachine(
        extra_commands={
            "UNAUTHENTICATE": frozenset({AUTH, SELECTED}),
            "sort": frozenset({SELECTED, LOGOUT}),
        },
        extra_transitions={("Unauthenticate", "ok"): NOT_AUTH},
    )
    machine.state = AUTH
    assert not machine.can_send("SORT")
    assert machine.allowed_states("SORT") == {SELECTED}
    assert machine.allows("UNAUTHENTICATE")
    assert machine.command_completed("UNAUTHENTICATE", "NO") is AUTH
    assert machine.command_completed("UNAUTHENTICATE", "OK") is NOT_AUTH
    assert not machine.can_send("UNAUTHENTICATE")
    # The built-in table is left alone.
    assert allowed_states("SORT") == {AUTH, SELECTED}


def test_extension_can_override_a_builtin() -> None:
    # A lenient server may accept ENABLE with a mailbox selected (RFC 9051 section 6.3.1).
    machine = machine_in(SELECTED, extra_commands={"ENABLE": frozenset({AUTH, SELECTED})})
    assert machine.can_send("ENABLE")


@given(
    state=st.sampled_from(ConnectionState),
    command=st.sampled_from(COMMANDS),
    status=st.sampled_from(STATUSES),
)
def test_every_transition(state: ConnectionState, command: str, status: str) -> None:
    machine = machine_in(state)
    allowed = machine.can_send(command)
    assert allowed == (state in allowed_states(command))
    new = machine.command_completed(command, status)
    assert isinstance(new, ConnectionState)
    assert machine.state is new
    if state is LOGOUT:
        # LOGOUT is absorbing, and nothing can be sent in it.
        assert new is LOGOUT
        assert not allowed
    if not allowed:
        # The server rejected the command, so nothing changed (RFC 9051 section 6).
        assert new is state
    if status == "BAD" and command != "LOGOUT":
        assert new is state
    if new is not state:
        assert TRANSITIONS[(command, status)] is new
    # Once authenticated, there is no way back (RFC 9051 section 6.2).
    if state is not NOT_AUTH:
        assert new is not NOT_AUTH
    # Only a successful SELECT or EXAMINE selects a mailbox (RFC 9051 section 3).
    if new is SELECTED and state is not SELECTED:
        assert command in {"SELECT", "EXAMINE"}
        assert status == "OK"


@given(
    state=st.sampled_from(ConnectionState),
    commands=st.lists(st.tuples(st.sampled_from(COMMANDS), st.sampled_from(STATUSES))),
)
def test_logout_is_absorbing_over_sequences(
    state: ConnectionState, commands: list[tuple[str, str]]
) -> None:
    machine = machine_in(state)
    machine.bye()
    for command, status in commands:
        assert machine.command_completed(command, status) is LOGOUT
        assert not machine.can_send(command)
    assert machine.preauth() is LOGOUT
