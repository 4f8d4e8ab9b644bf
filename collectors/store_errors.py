"""What can go wrong with the store, as the command line maps it (runtime.errors): the store
being unreachable, unreadable or at the wrong schema is a broken run (exit 3); a file that is
not a Castiel store at all is bad input (exit 2). Re-exported by `collectors.store`.

Every message names the store by its locator, which prints without a password."""

from __future__ import annotations

from runtime.errors import BadInput, RunBroken


class StoreError(RunBroken):
    """The store cannot be opened, read or written (missing, corrupt, newer schema, not
    migrated, locked too long, server unreachable)."""


class StoreUnavailable(StoreError):
    """The database server cannot be reached or the connection dropped: worth retrying, and
    nothing of the failed call was written."""


class NotAStore(BadInput):
    """The file exists but is not a Castiel store (not SQLite at all, or someone else's
    database)."""


class UnknownRun(KeyError):
    """No run with that id."""
