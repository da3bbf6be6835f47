"""/v1/doses."""

from flask.views import MethodView

from backend.api import ETAG_HEADER, IF_MATCH_PARAMETER, Blueprint, if_match, patch_schema, versioned
from backend.accounts.auth import authenticate, current_user
from backend.doses import services
from backend.doses.schemas import (DailyTotalsQuerySchema, DailyTotalsSchema, DosePageSchema,
                                   DoseCreateSchema, DoseQuerySchema, DoseSchema, DosePatchSchema)

blp = Blueprint("doses", __name__, url_prefix="/v1/doses", description="Dose log")
blp.before_request(authenticate)


@blp.route("")
class Doses(MethodView):
    @blp.arguments(DoseQuerySchema, location="query")
    @blp.response(200, DosePageSchema)
    def get(self, args):
        """List my doses, newest first, a page at a time."""
        items, next_cursor = services.list_doses(current_user(), args)
        return {"items": items, "next_cursor": next_cursor}

    @blp.arguments(DoseCreateSchema)
    @blp.response(201, DoseSchema, headers=ETAG_HEADER)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data):
        """Log a dose (idempotent on its client id)."""
        return versioned(services.log_dose(current_user(), data))


@blp.route("/daily-totals")
class DailyTotals(MethodView):
    @blp.arguments(DailyTotalsQuerySchema, location="query")
    @blp.response(200, DailyTotalsSchema)
    def get(self, args):
        """Total amount per local day, substance and unit, in my time zone."""
        return services.daily_totals(current_user(), args["start"], args["end"])


@blp.route("/<uuid:dose_id>")
class DoseById(MethodView):
    @blp.response(200, DoseSchema, headers=ETAG_HEADER)
    def get(self, dose_id):
        """Read one of my doses."""
        return versioned(services.get_dose(current_user(), dose_id))

    @blp.arguments(patch_schema(DosePatchSchema))
    @blp.response(200, DoseSchema, headers=ETAG_HEADER)
    @blp.doc(parameters=[IF_MATCH_PARAMETER])
    def patch(self, changes, dose_id):
        """Correct a dose (If-Match: only if unchanged since read)."""
        return versioned(services.correct_dose(current_user(), dose_id, changes, expected=if_match()))

    @blp.response(204)
    @blp.doc(parameters=[IF_MATCH_PARAMETER])
    def delete(self, dose_id):
        """Delete a dose (a tombstone stays for sync; If-Match: only if unchanged since read)."""
        services.delete_dose(current_user(), dose_id, expected=if_match())
