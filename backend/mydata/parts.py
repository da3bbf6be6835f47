"""Every feature's part of "my data", in the order deletion runs them: the parts of higher features
first and accounts last, so each row goes before the rows it points at, whether or not the database
enforces ON DELETE CASCADE. A table that belongs to no part fails the tests."""

from backend.accounts.mydata import PART as accounts
from backend.checkins.mydata import PART as checkins
from backend.doses.mydata import PART as doses
from backend.events.mydata import PART as events
from backend.monitoring.mydata import PART as monitoring
from backend.push.mydata import PART as push
from backend.reminders.mydata import PART as reminders
from backend.sharing.mydata import PART as sharing

PARTS = (monitoring, sharing, reminders, doses, checkins, push, events, accounts)
