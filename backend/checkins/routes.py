"""/v1/checkins."""

from flask.views import MethodView

from backend.api import ETAG_HEADER, IF_MATCH_PARAMETER, Blueprint, if_match, patch_schema, versioned
from backend.accounts.auth import authenticate, current_user
from backend.checkins import services
from backend.checkins.schemas import (CheckInCreateSchema, CheckInPageSchema, CheckInQuerySchema,
                                      CheckInSchema, CheckInPatchSchema)

blp = Blueprint("checkins", __name__, url_prefix="/v1/checkins", description="Symptom check-ins")
blp.before_request(authenticate)


@blp.route("")
class CheckIns(MethodView):
    @blp.arguments(CheckInQuerySchema, location="query")
    @blp.response(200, CheckInPageSchema)
    def get(self, args):
        """List my check-ins, newest first, a page at a time."""
        items, next_cursor = services.list_checkins(current_user(), args)
        return {"items": items, "next_cursor": next_cursor}

    @blp.arguments(CheckInCreateSchema)
    @blp.response(201, CheckInSchema, headers=ETAG_HEADER)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data):
        """Record a check-in (idempotent on its client id)."""
        return versioned(services.record_checkin(current_user(), data))


@blp.route("/<uuid:checkin_id>")
class CheckInById(MethodView):
    @blp.response(200, CheckInSchema, headers=ETAG_HEADER)
    def get(self, checkin_id):
        """Read one of my check-ins."""
        return versioned(services.get_checkin(current_user(), checkin_id))

    @blp.arguments(patch_schema(CheckInPatchSchema))
    @blp.response(200, CheckInSchema, headers=ETAG_HEADER)
    @blp.doc(parameters=[IF_MATCH_PARAMETER])
    def patch(self, changes, checkin_id):
        """Correct a check-in (If-Match: only if unchanged since read)."""
        return versioned(services.correct_checkin(current_user(), checkin_id, changes, expected=if_match()))

    @blp.response(204)
    @blp.doc(parameters=[IF_MATCH_PARAMETER])
    def delete(self, checkin_id):
        """Delete a check-in (a tombstone stays for sync; If-Match: only if unchanged since read)."""
        services.delete_checkin(current_user(), checkin_id, expected=if_match())
