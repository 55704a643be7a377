"""``python -m imap_server``: the ``imap-server`` command (see `imap_server.cli`)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
