"""/v1/reminders: schedules, and their occurrences (ack, snooze, receipts)."""

from flask.views import MethodView

from backend.api import ETAG_HEADER, IF_MATCH_PARAMETER, Blueprint, RangeQuerySchema, if_match, versioned
from backend.accounts.auth import authenticate, current_user
from backend.reminders import services
from backend.reminders.schemas import (OccurrencePageSchema, OccurrenceQuerySchema, OccurrenceSchema,
                                       ReceiptSchema, ReminderCreateSchema, ReminderPageSchema, ReminderPatchSchema,
                                       ReminderSchema,
                                       SnoozeSchema)

blp = Blueprint("reminders", __name__, url_prefix="/v1/reminders", description="Reminder schedules and occurrences")
blp.before_request(authenticate)


@blp.route("")
class Reminders(MethodView):
    @blp.arguments(RangeQuerySchema, location="query")
    @blp.response(200, ReminderPageSchema)
    def get(self, args):
        """List my reminder schedules, newest first."""
        items, next_cursor = services.list_reminders(current_user(), args)
        return {"items": items, "next_cursor": next_cursor}

    @blp.arguments(ReminderCreateSchema)
    @blp.response(201, ReminderSchema, headers=ETAG_HEADER)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data):
        """Create a reminder schedule (idempotent on its client id)."""
        return versioned(services.create_reminder(current_user(), data))


@blp.route("/<uuid:reminder_id>")
class ReminderById(MethodView):
    @blp.response(200, ReminderSchema, headers=ETAG_HEADER)
    def get(self, reminder_id):
        """Read one of my reminder schedules."""
        return versioned(services.get_reminder(current_user(), reminder_id))

    @blp.arguments(ReminderPatchSchema(partial=True))
    @blp.response(200, ReminderSchema, headers=ETAG_HEADER)
    @blp.doc(parameters=[IF_MATCH_PARAMETER])
    def patch(self, changes, reminder_id):
        """Change a reminder; its next occurrence moves accordingly (If-Match: only if unchanged since read)."""
        return versioned(services.update_reminder(current_user(), reminder_id, changes, expected=if_match()))

    @blp.response(204)
    @blp.doc(parameters=[IF_MATCH_PARAMETER])
    def delete(self, reminder_id):
        """Delete a reminder; pushes not yet sent are dropped (If-Match: only if unchanged since read)."""
        services.delete_reminder(current_user(), reminder_id, expected=if_match())


@blp.route("/occurrences")
class Occurrences(MethodView):
    @blp.arguments(OccurrenceQuerySchema, location="query")
    @blp.response(200, OccurrencePageSchema)
    def get(self, args):
        """List my reminder occurrences and what became of each, newest first."""
        items, next_cursor = services.list_occurrences(current_user(), args)
        return {"items": items, "next_cursor": next_cursor}


@blp.route("/occurrences/<uuid:occurrence_id>")
class OccurrenceById(MethodView):
    @blp.response(200, OccurrenceSchema)
    def get(self, occurrence_id):
        """Read one reminder occurrence."""
        return services.get_occurrence(current_user(), occurrence_id)


@blp.route("/occurrences/<uuid:occurrence_id>/ack")
class OccurrenceAck(MethodView):
    @blp.response(200, OccurrenceSchema)
    def post(self, occurrence_id):
        """Confirm a reminder (it counts as answered)."""
        occurrence = services.acknowledge(current_user(), occurrence_id)
        return occurrence


@blp.route("/occurrences/<uuid:occurrence_id>/snooze")
class OccurrenceSnooze(MethodView):
    @blp.arguments(SnoozeSchema)
    @blp.response(200, OccurrenceSchema)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data, occurrence_id):
        """Push this reminder again in a few minutes."""
        occurrence = services.snooze(current_user(), occurrence_id, data["minutes"])
        return occurrence


@blp.route("/occurrences/<uuid:occurrence_id>/receipt")
class OccurrenceReceipt(MethodView):
    @blp.arguments(ReceiptSchema)
    @blp.response(200, OccurrenceSchema)
    def post(self, data, occurrence_id):
        """Report that the push was delivered, opened or dismissed on the phone."""
        occurrence = services.record_receipt(current_user(), occurrence_id, data["event"], data["at"])
        return occurrence
