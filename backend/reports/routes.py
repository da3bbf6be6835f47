"""/v1/patients/{id}/summary|checkins|doses|prompts: a patient's data as someone they share it with
reads it (the patient may read their own here too). Each read goes through `services.scoped_read`."""

from flask.views import MethodView

from backend.accounts.auth import authenticate, current_user
from backend.api import Blueprint, RangeQuerySchema, request_client
from backend.monitoring.schemas import PromptPageSchema
from backend.reports import services
from backend.reports.schemas import SharedCheckInPageSchema, SharedDosePageSchema, SummaryQuerySchema, SummarySchema

blp = Blueprint("reports", __name__, url_prefix="/v1", description="A linked patient's data, within the shared scopes")
blp.before_request(authenticate)


@blp.route("/patients/<uuid:patient_id>/summary")
class PatientSummary(MethodView):
    @blp.arguments(SummaryQuerySchema, location="query")
    @blp.response(200, SummarySchema)
    @blp.alt_response(403, response="FORBIDDEN")
    def get(self, args, patient_id):
        """A linked patient's summary over a time range (within my scopes)."""
        return services.patient_summary(current_user(), patient_id, args, request_client())


@blp.route("/patients/<uuid:patient_id>/checkins")
class PatientCheckIns(MethodView):
    @blp.arguments(RangeQuerySchema, location="query")
    @blp.response(200, SharedCheckInPageSchema)
    @blp.alt_response(403, response="FORBIDDEN")
    def get(self, args, patient_id):
        """A linked patient's check-ins, newest first (notes only if shared)."""
        return services.patient_checkins(current_user(), patient_id, args, request_client())


@blp.route("/patients/<uuid:patient_id>/doses")
class PatientDoses(MethodView):
    @blp.arguments(RangeQuerySchema, location="query")
    @blp.response(200, SharedDosePageSchema)
    @blp.alt_response(403, response="FORBIDDEN")
    def get(self, args, patient_id):
        """A linked patient's doses, newest first (notes only if shared)."""
        return services.patient_doses(current_user(), patient_id, args, request_client())


@blp.route("/patients/<uuid:patient_id>/prompts")
class PatientPrompts(MethodView):
    @blp.arguments(RangeQuerySchema, location="query")
    @blp.response(200, PromptPageSchema)
    @blp.alt_response(403, response="FORBIDDEN")
    def get(self, args, patient_id):
        """A linked patient's monitoring prompts (with the prompts scope)."""
        return services.patient_prompts(current_user(), patient_id, args, request_client())
