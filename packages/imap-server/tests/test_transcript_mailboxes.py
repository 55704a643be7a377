"""Transcript tests: mailbox commands (authenticated state).

CREATE, DELETE, RENAME (RFC 9051 6.3.4-6.3.6), SUBSCRIBE / UNSUBSCRIBE (6.3.7-6.3.8),
LIST (6.3.9) with LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819) and SPECIAL-USE
(RFC 6154), LSUB (RFC 3501 6.3.9), NAMESPACE (6.3.10), STATUS (6.3.11, with SIZE from
RFC 8438 and DELETED).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from imap_server.memory import MemoryStore
from imap_server.testing.harness import RunningServer, serve_for_tests
from imap_server.testing.transcript import login_steps, play

pytestmark = pytest.mark.anyio

LOGIN = login_steps()
LOGIN_REV2 = login_steps(rev2=True)


@pytest.fixture
async def tree(anyio_backend: str, store: MemoryStore) -> AsyncIterator[RunningServer]:
    """A server whose user has special-use mailboxes and a small hierarchy::

    INBOX, Archive, Drafts (\\Drafts), Sent (\\Sent), Trash (\\Trash),
    Work, Work/Projects, Work/Projects/Alpha (subscribed: Work/Projects/Alpha, Sent)
    """
    user = await store.open_user("user")
    await user.create_mailbox("Archive")
    await user.create_mailbox("Drafts", special_use=frozenset({"\\Drafts"}))
    await user.create_mailbox("Sent", special_use=frozenset({"\\Sent"}))
    await user.create_mailbox("Trash", special_use=frozenset({"\\Trash"}))
    await user.create_mailbox("Work/Projects/Alpha")
    await user.subscribe("Work/Projects/Alpha")
    await user.subscribe("Sent")
    async with serve_for_tests(store) as running:
        yield running


# -- CREATE -------------------------------------------------------------------------------------


async def test_create(server: RunningServer) -> None:
    await play(
        server,
        f"""
        {LOGIN}
        C: a1 CREATE Projects
        S: a1 OK CREATE completed
        C: a2 CREATE "Two words"
        S: a2 OK CREATE completed
        C: a3 CREATE {{7+}}
        C: Literal
        S: a3 OK CREATE completed
        C: a4 LIST "" *
        S: * LIST (\\HasNoChildren) "/" INBOX
        S: * LIST (\\HasNoChildren) "/" Literal
        S: * LIST (\\HasNoChildren) "/" Projects
        S: * LIST (\\HasNoChildren) "/" "Two words"
        S: a4 OK LIST completed
        """,
    )


async def test_create_existing_name(server: RunningServer) -> None:
    # RFC 9051 6.3.4: NO for an existing name; RFC 5530: ALREADYEXISTS. INBOX in any case.
    await play(
        server,
        f"""
        {LOGIN}
        C: a1 CREATE Projects
        S: a1 OK CREATE completed
        C: a2 CREATE Projects
        S: a2 NO [ALREADYEXISTS] ...
        C: a3 CREATE INBOX
        S: a3 NO [ALREADYEXISTS] INBOX always exists
        C: a4 CREATE inbox
        S: a4 NO [ALREADYEXISTS] INBOX always exists
        """,
    )


async def test_create_makes_superiors_and_drops_trailing_delimiter(server: RunningServer) -> None:
    # RFC 9051 6.3.4: the server SHOULD create the superiors; a trailing delimiter only
    # declares the intent to create inferiors.
    await play(
        server,
        f"""
        {LOGIN}
        C: a1 CREATE a/b/c
        S: a1 OK CREATE completed
        C: a2 CREATE parent/
        S: a2 OK CREATE completed
        C: a3 CREATE inbox/child
        S: a3 OK CREATE completed
        C: a4 LIST "" *
        S: * LIST (\\HasChildren) "/" INBOX
        S: * LIST (\\HasNoChildren) "/" INBOX/child
        S: * LIST (\\HasChildren) "/" a
        S: * LIST (\\HasChildren) "/" a/b
        S: * LIST (\\HasNoChildren) "/" a/b/c
        S: * LIST (\\HasNoChildren) "/" parent
        S: a4 OK LIST completed
        """,
    )


async def test_create_invalid_names(server: RunningServer) -> None:
    await play(
        server,
        f"""
        {LOGIN}
        C: a1 CREATE ""
        S: a1 NO [CANNOT] The mailbox name is empty
        C: a2 CREATE "a//b"
        S: a2 NO [CANNOT] The mailbox name has an empty hierarchy level
        C: a3 CREATE "/lead"
        S: a3 NO [CANNOT] The mailbox name has an empty hierarchy level
        C: a4 CREATE x (FOO bar)
        S: a4 BAD unknown CREATE parameter FOO
        """,
    )


async def test_create_special_use(server: RunningServer) -> None:
    # RFC 6154 section 3 (CREATE-SPECIAL-USE).
    await play(
        server,
        f"""
        {LOGIN}
        C: a1 CREATE MySent (USE (\\Sent))
        S: a1 OK CREATE completed
        C: a2 LIST "" MySent
        S: * LIST (\\Sent \\HasNoChildren) "/" MySent
        S: a2 OK LIST completed
        C: a3 CREATE Both (USE (\\Junk \\Archive))
        S: a3 OK CREATE completed
        C: a4 CREATE Plain (USE ())
        S: a4 OK CREATE completed
        C: a5 CREATE Bad (USE (\\Bogus))
        S: a5 NO [USEATTR] ...
        C: a6 CREATE Bad (USE \\Junk)
        S: a6 BAD ...
        C: a7 LIST (SPECIAL-USE) "" *
        S: * LIST (\\Archive \\Junk \\HasNoChildren) "/" Both
        S: * LIST (\\Sent \\HasNoChildren) "/" MySent
        S: a7 OK LIST completed
        C: a8 LIST "" Bad
        S: a8 OK LIST completed
        """,
    )


async def test_international_names_rev1(server: RunningServer) -> None:
    # RFC 9051 appendix A.1: IMAP4rev1 clients use modified UTF-7; 8-bit names are refused.
    await play(
        server,
        f"""
        {LOGIN}
        C: a1 CREATE "&AOk-t&AOk-"
        S: a1 OK CREATE completed
        C: a2 LIST "" "&AOk-*"
        S: * LIST (\\HasNoChildren) "/" &AOk-t&AOk-
        S: a2 OK LIST completed
        C: a3 CREATE "\u00e9t\u00e9 2"
        S: a3 BAD invalid mailbox name: ...
        C: a4 CREATE "&Jjo"
        S: a4 BAD ...
        """,
    )


async def test_international_names_rev2(server: RunningServer) -> None:
    # RFC 9051 5.1: in IMAP4rev2 mailbox names are UTF-8 (Net-Unicode), both ways.
    await play(
        server,
        f"""
        {LOGIN}
        C: a1 CREATE "&AOk-t&AOk-"
        S: a1 OK CREATE completed
        C: a2 ENABLE IMAP4rev2
        S: * ENABLED IMAP4rev2
        S: a2 OK ENABLE completed
        C: a3 LIST "" "\u00e9*"
        S: * LIST (\\HasNoChildren) "/" "\u00e9t\u00e9"
        S: a3 OK LIST completed
        C: a4 CREATE "hiver \u00e9"
        S: a4 OK CREATE completed
        """,
    )


# -- DELETE -------------------------------------------------------------------------------------


async def test_delete(tree: RunningServer) -> None:
    await play(
        tree,
        f"""
        {LOGIN}
        C: a1 DELETE Archive
        S: a1 OK DELETE completed
        C: a2 DELETE Archive
        S: a2 NO [NONEXISTENT] ...
        C: a3 DELETE INBOX
        S: a3 NO [CANNOT] INBOX cannot be deleted
        C: a4 DELETE inbox
        S: a4 NO [CANNOT] INBOX cannot be deleted
        C: a5 LIST "" %
        S: * LIST (\\HasNoChildren) "/" INBOX
        S: * LIST (\\Drafts \\HasNoChildren) "/" Drafts
        S: * LIST (\\Sent \\HasNoChildren) "/" Sent
        S: * LIST (\\Trash \\HasNoChildren) "/" Trash
        S: * LIST (\\HasChildren) "/" Work
        S: a5 OK LIST completed
        """,
    )


async def test_delete_with_inferiors_leaves_noselect(tree: RunningServer) -> None:
    # RFC 9051 6.3.4: deleting a name with inferiors removes its messages and leaves it
    # \Noselect; deleting a \Noselect name with inferiors fails.
    await play(
        tree,
        f"""
        {LOGIN}
        C: a1 DELETE Work/Projects
        S: a1 OK DELETE completed
        C: a2 LIST "" Work/*
        S: * LIST (\\Noselect \\HasChildren) "/" Work/Projects
        S: * LIST (\\HasNoChildren) "/" Work/Projects/Alpha
        S: a2 OK LIST completed
        C: a3 DELETE Work/Projects
        S: a3 NO [CANNOT] ...
        C: a4 SELECT Work/Projects
        S: a4 NO ...
        C: a5 DELETE Work/Projects/Alpha
        S: a5 OK DELETE completed
        C: a6 LIST "" Work/*
        S: a6 OK LIST completed
        """,
    )


async def test_delete_selected_mailbox_closes_it(tree: RunningServer) -> None:
    # The session leaves the selected state (as Dovecot does) rather than being dropped.
    await play(
        tree,
        f"""
        {LOGIN}
        C: a1 SELECT Archive
        S: ...
        S: a1 OK [READ-WRITE] SELECT completed
        C: a2 DELETE Archive
        S: a2 OK DELETE completed
        C: a3 NOOP
        S: a3 OK NOOP completed
        C: a4 FETCH 1 FLAGS
        S: a4 BAD FETCH is not valid in the authenticated state
        C: a5 SELECT INBOX
        S: ...
        S: a5 OK [READ-WRITE] SELECT completed
        """,
    )


async def test_delete_other_mailbox_while_selected(tree: RunningServer) -> None:
    await play(
        tree,
        f"""
        {LOGIN}
        C: a1 SELECT INBOX
        S: ...
        S: a1 OK [READ-WRITE] SELECT completed
        C: a2 DELETE Archive
        S: a2 OK DELETE completed
        C: a3 CHECK
        S: a3 OK CHECK completed
        """,
    )


# -- RENAME -------------------------------------------------------------------------------------


async def test_rename_moves_inferiors(tree: RunningServer) -> None:
    # RFC 9051 6.3.6: inferiors are renamed too; superiors of the new name are created.
    await play(
        tree,
        f"""
        {LOGIN}
        C: a1 RENAME Work Job
        S: a1 OK RENAME completed
        C: a2 RENAME Job/Projects/Alpha Old/Stuff/Alpha
        S: a2 OK RENAME completed
        C: a3 LIST "" *
        S: * LIST (\\HasNoChildren) "/" INBOX
        S: * LIST (\\HasNoChildren) "/" Archive
        S: * LIST (\\Drafts \\HasNoChildren) "/" Drafts
        S: * LIST (\\HasChildren) "/" Job
        S: * LIST (\\HasNoChildren) "/" Job/Projects
        S: * LIST (\\HasChildren) "/" Old
        S: * LIST (\\HasChildren) "/" Old/Stuff
        S: * LIST (\\HasNoChildren) "/" Old/Stuff/Alpha
        S: * LIST (\\Sent \\HasNoChildren) "/" Sent
        S: * LIST (\\Trash \\HasNoChildren) "/" Trash
        S: a3 OK LIST completed
        """,
    )


async def test_rename_errors(tree: RunningServer) -> None:
    await play(
        tree,
        f"""
        {LOGIN}
        C: a1 RENAME Nothing Else
        S: a1 NO [NONEXISTENT] ...
        C: a2 RENAME Archive Trash
        S: a2 NO [ALREADYEXISTS] ...
        C: a3 RENAME Archive INBOX
        S: a3 NO [ALREADYEXISTS] ...
        C: a4 RENAME Work Work/Sub
        S: a4 NO [CANNOT] ...
        C: a5 RENAME Archive
        S: a5 BAD ...
        C: a6 RENAME Archive ""
        S: a6 NO [CANNOT] ...
        """,
    )


async def test_rename_inbox(seeded: RunningServer) -> None:
    # RFC 9051 6.3.6: renaming INBOX moves its messages to the new name and leaves INBOX
    # empty; INBOX's inferiors are not renamed.
    await play(
        seeded,
        f"""
        {LOGIN}
        C: a1 CREATE INBOX/Child
        S: a1 OK CREATE completed
        C: a2 RENAME INBOX Saved
        S: a2 OK RENAME completed
        C: a3 STATUS Saved (MESSAGES)
        S: * STATUS Saved (MESSAGES 4)
        S: a3 OK STATUS completed
        C: a4 STATUS INBOX (MESSAGES UIDNEXT)
        S: * STATUS INBOX (MESSAGES 0 UIDNEXT ...)
        S: a4 OK STATUS completed
        C: a5 LIST "" *
        S: * LIST (\\HasChildren) "/" INBOX
        S: * LIST (\\HasNoChildren) "/" INBOX/Child
        S: * LIST (\\HasNoChildren) "/" Saved
        S: a5 OK LIST completed
        """,
    )


async def test_rename_selected_mailbox_keeps_it_selected(tree: RunningServer) -> None:
    await play(
        tree,
        f"""
        {LOGIN}
        C: a1 SELECT Archive
        S: ...
        S: a1 OK [READ-WRITE] SELECT completed
        C: a2 RENAME Archive Attic
        S: a2 OK RENAME completed
        C: a3 APPEND Attic {{12+}}
        C: Subject: x
        C:
        S: * 1 EXISTS
        S: * 1 RECENT
        S: a3 OK [APPENDUID ... 1] APPEND completed
        C: a4 FETCH 1 (UID RFC822.SIZE)
        S: * 1 FETCH (UID 1 RFC822.SIZE 12)
        S: a4 OK FETCH completed
        """,
    )


# -- SUBSCRIBE, UNSUBSCRIBE, LSUB ---------------------------------------------------------------


async def test_subscribe_and_lsub(tree: RunningServer) -> None:
    # RFC 9051 6.3.7: a server MAY refuse a nonexistent name; this one accepts it (like
    # Dovecot). LSUB (RFC 3501 6.3.9) lists \Noselect for an unsubscribed superior of a
    # subscribed name matched by "%".
    await play(
        tree,
        f"""
        {LOGIN}
        C: a1 SUBSCRIBE INBOX
        S: a1 OK SUBSCRIBE completed
        C: a2 SUBSCRIBE Future
        S: a2 OK SUBSCRIBE completed
        C: a3 LSUB "" *
        S: * LSUB () "/" INBOX
        S: * LSUB () "/" Future
        S: * LSUB () "/" Sent
        S: * LSUB () "/" Work/Projects/Alpha
        S: a3 OK LSUB completed
        C: a4 LSUB "" %
        S: * LSUB () "/" INBOX
        S: * LSUB () "/" Future
        S: * LSUB () "/" Sent
        S: * LSUB (\\Noselect) "/" Work
        S: a4 OK LSUB completed
        C: a5 LSUB "Work/" %
        S: * LSUB (\\Noselect) "/" Work/Projects
        S: a5 OK LSUB completed
        C: a6 LSUB "" ""
        S: * LSUB (\\Noselect) "/" ""
        S: a6 OK LSUB completed
        """,
    )


async def test_unsubscribe(tree: RunningServer) -> None:
    await play(
        tree,
        f"""
        {LOGIN}
        C: a1 UNSUBSCRIBE Sent
        S: a1 OK UNSUBSCRIBE completed
        C: a2 UNSUBSCRIBE Sent
        S: a2 NO [NONEXISTENT] ...
        C: a3 UNSUBSCRIBE Nothing
        S: a3 NO [NONEXISTENT] ...
        C: a4 LSUB "" *
        S: * LSUB () "/" Work/Projects/Alpha
        S: a4 OK LSUB completed
        C: a5 SUBSCRIBE
        S: a5 BAD ...
        """,
    )


async def test_subscription_outlives_the_mailbox(tree: RunningServer) -> None:
    # RFC 9051 6.3.7: the server SHOULD NOT remove a name from the subscriptions when the
    # mailbox goes away.
    await play(
        tree,
        f"""
        {LOGIN}
        C: a1 DELETE Sent
        S: a1 OK DELETE completed
        C: a2 LSUB "" Sent
        S: * LSUB () "/" Sent
        S: a2 OK LSUB completed
        C: a3 LIST (SUBSCRIBED) "" Sent
        S: * LIST (\\NonExistent \\Subscribed \\HasNoChildren) "/" Sent
        S: a3 OK LIST completed
        """,
    )


# -- LIST (basic) -------------------------------------------------------------------------------


async def test_list_delimiter_and_root(tree: RunningServer) -> None:
    # RFC 9051 6.3.9: an empty pattern asks for the delimiter and the reference's root.
    await play(
        tree,
        f"""
        {LOGIN}
        C: a1 LIST "" ""
        S: * LIST (\\Noselect) "/" ""
        S: a1 OK LIST completed
        C: a2 LIST "Work/Projects" ""
        S: * LIST (\\Noselect) "/" Work/
        S: a2 OK LIST completed
        """,
    )


async def test_list_wildcards(tree: RunningServer) -> None:
    await play(
        tree,
        f"""
        {LOGIN}
        C: a1 LIST "" *
        S: * LIST (\\HasNoChildren) "/" INBOX
        S: * LIST (\\HasNoChildren) "/" Archive
        S: * LIST (\\Drafts \\HasNoChildren) "/" Drafts
        S: * LIST (\\Sent \\HasNoChildren) "/" Sent
        S: * LIST (\\Trash \\HasNoChildren) "/" Trash
        S: * LIST (\\HasChildren) "/" Work
        S: * LIST (\\HasChildren) "/" Work/Projects
        S: * LIST (\\HasNoChildren) "/" Work/Projects/Alpha
        S: a1 OK LIST completed
        C: a2 LIST "" %
        S: * LIST (\\HasNoChildren) "/" INBOX
        S: * LIST (\\HasNoChildren) "/" Archive
        S: * LIST (\\Drafts \\HasNoChildren) "/" Drafts
        S: * LIST (\\Sent \\HasNoChildren) "/" Sent
        S: * LIST (\\Trash \\HasNoChildren) "/" Trash
        S: * LIST (\\HasChildren) "/" Work
        S: a2 OK LIST completed
        C: a3 LIST "" %/%
        S: * LIST (\\HasChildren) "/" Work/Projects
        S: a3 OK LIST completed
        C: a4 LIST "" W*a
        S: * LIST (\\HasNoChildren) "/" Work/Projects/Alpha
        S: a4 OK LIST completed
        C: a5 LIST "" *r*
        S: * LIST (\\HasNoChildren) "/" Archive
        S: * LIST (\\Drafts \\HasNoChildren) "/" Drafts
        S: * LIST (\\Trash \\HasNoChildren) "/" Trash
        S: * LIST (\\HasChildren) "/" Work
        S: * LIST (\\HasChildren) "/" Work/Projects
        S: * LIST (\\HasNoChildren) "/" Work/Projects/Alpha
        S: a5 OK LIST completed
        C: a6 LIST "" Nothing*
        S: a6 OK LIST completed
        """,
    )


async def test_list_reference(tree: RunningServer) -> None:
    # RFC 9051 6.3.9: the reference is prefixed to the pattern.
    await play(
        tree,
        f"""
        {LOGIN}
        C: a1 LIST Work/ %
        S: * LIST (\\HasChildren) "/" Work/Projects
        S: a1 OK LIST completed
        C: a2 LIST Work %
        S: * LIST (\\HasChildren) "/" Work
        S: a2 OK LIST completed
        C: a3 LIST Work/ /Projects
        S: * LIST (\\HasChildren) "/" Work/Projects
        S: a3 OK LIST completed
        """,
    )


async def test_list_inbox_is_case_insensitive(tree: RunningServer) -> None:
    await play(
        tree,
        f"""
        {LOGIN}
        C: a1 LIST "" inbox
        S: * LIST (\\HasNoChildren) "/" INBOX
        S: a1 OK LIST completed
        C: a2 LIST "" InBoX
        S: * LIST (\\HasNoChildren) "/" INBOX
        S: a2 OK LIST completed
        C: a3 LIST "" archive
        S: a3 OK LIST completed
        """,
    )


# -- LIST-EXTENDED (RFC 5258) -------------------------------------------------------------------


async def test_list_extended_several_patterns(tree: RunningServer) -> None:
    await play(
        tree,
        f"""
        {LOGIN}
        C: a1 LIST "" (INBOX Sent Work/%)
        S: * LIST (\\HasNoChildren) "/" INBOX
        S: * LIST (\\Sent \\HasNoChildren) "/" Sent
        S: * LIST (\\HasChildren) "/" Work/Projects
        S: a1 OK LIST completed
        C: a2 LIST "" ("" INBOX)
        S: * LIST (\\HasNoChildren) "/" INBOX
        S: a2 OK LIST completed
        C: a3 LIST () "" %/%
        S: * LIST (\\HasChildren) "/" Work/Projects
        S: a3 OK LIST completed
        """,
    )


async def test_list_selection_subscribed(tree: RunningServer) -> None:
    # RFC 5258 3.1: SUBSCRIBED implies the SUBSCRIBED return option; subscribed names that
    # do not exist are \NonExistent.
    await play(
        tree,
        f"""
        {LOGIN}
        C: a1 SUBSCRIBE Gone
        S: a1 OK SUBSCRIBE completed
        C: a2 LIST (SUBSCRIBED) "" *
        S: * LIST (\\NonExistent \\Subscribed \\HasNoChildren) "/" Gone
        S: * LIST (\\Sent \\Subscribed \\HasNoChildren) "/" Sent
        S: * LIST (\\Subscribed \\HasNoChildren) "/" Work/Projects/Alpha
        S: a2 OK LIST completed
        """,
    )


async def test_list_selection_recursivematch(tree: RunningServer) -> None:
    # RFC 5258 3.5 / RFC 9051 6.3.9.6: a parent whose subscribed inferior does not match
    # gets CHILDINFO; RECURSIVEMATCH without another selection option is BAD.
    await play(
        tree,
        f"""
        {LOGIN}
        C: a1 LIST (SUBSCRIBED RECURSIVEMATCH) "" %
        S: * LIST (\\Sent \\Subscribed \\HasNoChildren) "/" Sent
        S: * LIST (\\HasChildren) "/" Work ("CHILDINFO" ("SUBSCRIBED"))
        S: a1 OK LIST completed
        C: a2 LIST (RECURSIVEMATCH) "" %
        S: a2 BAD ...
        C: a3 LIST (RECURSIVEMATCH REMOTE) "" %
        S: a3 BAD ...
        """,
    )


async def test_list_selection_special_use_and_remote(tree: RunningServer) -> None:
    # RFC 6154 5.1: SPECIAL-USE selects special-use mailboxes only; REMOTE changes nothing
    # here (no remote mailboxes).
    await play(
        tree,
        f"""
        {LOGIN}
        C: a1 LIST (SPECIAL-USE) "" *
        S: * LIST (\\Drafts \\HasNoChildren) "/" Drafts
        S: * LIST (\\Sent \\HasNoChildren) "/" Sent
        S: * LIST (\\Trash \\HasNoChildren) "/" Trash
        S: a1 OK LIST completed
        C: a2 LIST (REMOTE) "" Work
        S: * LIST (\\HasChildren) "/" Work
        S: a2 OK LIST completed
        C: a3 LIST (SUBSCRIBED SPECIAL-USE) "" *
        S: * LIST (\\Sent \\Subscribed \\HasNoChildren) "/" Sent
        S: a3 OK LIST completed
        """,
    )


async def test_list_return_options(tree: RunningServer) -> None:
    await play(
        tree,
        f"""
        {LOGIN}
        C: a1 LIST "" % RETURN (SUBSCRIBED)
        S: * LIST (\\HasNoChildren) "/" INBOX
        S: * LIST (\\HasNoChildren) "/" Archive
        S: * LIST (\\Drafts \\HasNoChildren) "/" Drafts
        S: * LIST (\\Sent \\Subscribed \\HasNoChildren) "/" Sent
        S: * LIST (\\Trash \\HasNoChildren) "/" Trash
        S: * LIST (\\HasChildren) "/" Work
        S: a1 OK LIST completed
        C: a2 LIST "" (Sent Work) RETURN (CHILDREN SPECIAL-USE)
        S: * LIST (\\Sent \\HasNoChildren) "/" Sent
        S: * LIST (\\HasChildren) "/" Work
        S: a2 OK LIST completed
        C: a3 LIST "" Sent RETURN ()
        S: * LIST (\\Sent \\HasNoChildren) "/" Sent
        S: a3 OK LIST completed
        """,
    )


async def test_list_option_errors(tree: RunningServer) -> None:
    await play(
        tree,
        f"""
        {LOGIN}
        C: a1 LIST (FOO) "" *
        S: a1 BAD unknown LIST selection option FOO
        C: a2 LIST "" * RETURN (FOO)
        S: a2 BAD unknown LIST return option FOO
        C: a3 LIST "" * RETURN (STATUS ())
        S: a3 BAD ...
        C: a4 LIST "" * RETURN (STATUS (FOO))
        S: a4 BAD ...
        C: a5 LIST (SUBSCRIBED "" *
        S: a5 BAD ...
        C: a6 NOOP
        S: a6 OK NOOP completed
        """,
    )


# -- LIST-STATUS (RFC 5819) ---------------------------------------------------------------------


async def test_list_status(seeded: RunningServer) -> None:
    # Each selectable listed mailbox gets its STATUS right after its LIST line; a \Noselect
    # one gets none.
    await play(
        seeded,
        f"""
        {LOGIN}
        C: a1 CREATE Box/Inner
        S: a1 OK CREATE completed
        C: a2 DELETE Box
        S: a2 OK DELETE completed
        C: a3 LIST "" * RETURN (STATUS (MESSAGES UNSEEN SIZE DELETED))
        S: * LIST (\\HasNoChildren) "/" INBOX
        S: * STATUS INBOX (MESSAGES 4 UNSEEN 2 SIZE 1886 DELETED 1)
        S: * LIST (\\Noselect \\HasChildren) "/" Box
        S: * LIST (\\HasNoChildren) "/" Box/Inner
        S: * STATUS Box/Inner (MESSAGES 0 UNSEEN 0 SIZE 0 DELETED 0)
        S: a3 OK LIST completed
        C: a4 LIST (SUBSCRIBED) "" * RETURN (STATUS (MESSAGES))
        S: a4 OK LIST completed
        """,
    )


async def test_list_status_with_special_use(tree: RunningServer) -> None:
    await play(
        tree,
        f"""
        {LOGIN}
        C: a1 LIST (SPECIAL-USE) "" * RETURN (STATUS (MESSAGES UIDNEXT))
        S: * LIST (\\Drafts \\HasNoChildren) "/" Drafts
        S: * STATUS Drafts (MESSAGES 0 UIDNEXT 1)
        S: * LIST (\\Sent \\HasNoChildren) "/" Sent
        S: * STATUS Sent (MESSAGES 0 UIDNEXT 1)
        S: * LIST (\\Trash \\HasNoChildren) "/" Trash
        S: * STATUS Trash (MESSAGES 0 UIDNEXT 1)
        S: a1 OK LIST completed
        """,
    )


# -- IMAP4rev2 LIST -----------------------------------------------------------------------------


async def test_list_in_rev2(tree: RunningServer) -> None:
    await play(
        tree,
        f"""
        {LOGIN_REV2}
        C: a1 LIST "" %
        S: * LIST (\\HasNoChildren) "/" INBOX
        S: * LIST (\\HasNoChildren) "/" Archive
        S: * LIST (\\Drafts \\HasNoChildren) "/" Drafts
        S: * LIST (\\Sent \\HasNoChildren) "/" Sent
        S: * LIST (\\Trash \\HasNoChildren) "/" Trash
        S: * LIST (\\HasChildren) "/" Work
        S: a1 OK LIST completed
        # RFC 5258 section 3: an extended LIST never reads "" as the delimiter request.
        C: a2 LIST "" "" RETURN (STATUS (MESSAGES))
        S: a2 OK LIST completed
        """,
    )


# -- NAMESPACE ----------------------------------------------------------------------------------


async def test_namespace(server: RunningServer) -> None:
    # RFC 9051 6.3.10: one personal namespace, empty prefix, "/" delimiter.
    await play(
        server,
        f"""
        {LOGIN}
        C: a1 NAMESPACE
        S: * NAMESPACE (("" "/")) NIL NIL
        S: a1 OK NAMESPACE completed
        """,
    )


# -- STATUS -------------------------------------------------------------------------------------


# No session has selected INBOX yet: its 4 messages are \Recent to the next (RFC 3501 6.3.10).
SIZE_RECENT = "SIZE 1886 RECENT 4"


async def test_status_every_item(seeded: RunningServer) -> None:
    # RFC 9051 6.3.11 (SIZE: RFC 8438; DELETED); RECENT is an IMAP4rev1 item.
    await play(
        seeded,
        f"""
        {LOGIN}
        C: a1 STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT)
        S: * STATUS INBOX (MESSAGES 4 UIDNEXT 5 UIDVALIDITY ... UNSEEN 2 DELETED 1 {SIZE_RECENT})
        S: a1 OK STATUS completed
        C: a2 STATUS inbox (messages)
        S: * STATUS INBOX (MESSAGES 4)
        S: a2 OK STATUS completed
        """,
    )


async def test_status_of_selected_mailbox(seeded: RunningServer) -> None:
    # Allowed (RFC 9051 6.3.11 only advises against it); RECENT counts this session's.
    await play(
        seeded,
        f"""
        {LOGIN}
        C: a1 SELECT INBOX
        S: ...
        S: a1 OK [READ-WRITE] SELECT completed
        C: a2 STATUS INBOX (MESSAGES RECENT UNSEEN)
        S: * STATUS INBOX (MESSAGES 4 RECENT 4 UNSEEN 2)
        S: a2 OK STATUS completed
        """,
    )


async def test_status_errors(tree: RunningServer) -> None:
    await play(
        tree,
        f"""
        {LOGIN}
        C: a1 STATUS Nothing (MESSAGES)
        S: a1 NO [NONEXISTENT] ...
        C: a2 STATUS INBOX (FOO)
        S: a2 BAD unknown STATUS item FOO
        C: a3 STATUS INBOX ()
        S: a3 BAD empty STATUS item list
        C: a4 STATUS INBOX MESSAGES
        S: a4 BAD ...
        C: a5 STATUS INBOX (HIGHESTMODSEQ)
        S: a5 BAD ...
        C: a6 DELETE Work/Projects
        S: a6 OK DELETE completed
        C: a7 STATUS Work/Projects (MESSAGES)
        S: a7 NO ...
        """,
    )


async def test_status_recent_is_not_an_imap4rev2_item(seeded: RunningServer) -> None:
    # RFC 9051 dropped RECENT from status-att (appendix E item 12).
    await play(
        seeded,
        f"""
        {LOGIN_REV2}
        C: a1 STATUS INBOX (RECENT)
        S: a1 BAD unknown STATUS item RECENT
        C: a2 STATUS INBOX (MESSAGES SIZE DELETED)
        S: * STATUS INBOX (MESSAGES 4 SIZE 1886 DELETED 1)
        S: a2 OK STATUS completed
        """,
    )
