"""The outbox in "my data": deleted with the account, never exported."""

import sqlalchemy as sa

from backend.data_parts import DataPart, execute
from backend.events.models import Event


def purge(user):
    return {"events": execute(sa.delete(Event).where(Event.user_id == user.id))}


PART = DataPart(tables=("events",), purge=purge, not_exported={
    "events": "an internal work queue, not a record: each entry only names a check-in, dose or reminder "
              "occurrence that the export carries itself"})
