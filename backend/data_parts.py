"""What a feature declares about the personal data it holds: its part of "my data".

Export and account deletion are one feature (`backend.mydata`) at the top of the import order, but
only the feature that owns a table knows which of its rows are a person's and what they look like
when handed over. So each feature describes its tables in `backend/<feature>/mydata.py` as one
`DataPart`, and `backend.mydata.parts` lists the parts. A test holds that every table of the
metadata belongs to exactly one part, and that each part exports its tables or says why not.
"""

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping

from backend.extensions import db


@dataclasses.dataclass(frozen=True)
class DataPart:
    """One feature's tables that hold people's data, and how a person's rows leave with them."""

    # The tables this part answers for: no other part exports or deletes rows of them.
    tables: tuple[str, ...]
    # (user) → {table: rows}: deletes every row of these tables that is the person's or points at
    # them, with explicit statements, children first (ON DELETE CASCADE is a backstop only). A key
    # may add a note after the table name: "access_log (reads of others' data, kept)".
    purge: Callable[[object], Mapping[str, int]]
    # (user, now) → {section: value}: the person's rows for the export document's sections,
    # shaped for `backend.mydata.schemas.ExportSchema`, oldest first.
    export: Callable[[object, dt.datetime], Mapping[str, object]] | None = None
    # The export sections `export` returns, each with the table it carries.
    sections: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # Tables of the part left out of the export on purpose, each with the reason.
    not_exported: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # What of the person deliberately outlives the account, per table, and why.
    kept: Mapping[str, str] = dataclasses.field(default_factory=dict)


def execute(statement):
    """Run a bulk UPDATE or DELETE in the request's transaction; returns the number of rows.

    The session is not synchronised row by row: deletion expunges everything once it is done."""
    return db.session.execute(statement, execution_options={"synchronize_session": False}).rowcount
