"""/v1/plan, /v1/prompts and a linked patient's prompts."""

from flask.views import MethodView

from backend.api import Blueprint, RangeQuerySchema
from backend.accounts.auth import authenticate, current_user
from backend.monitoring import services
from backend.monitoring.plan import effective_plan, replace_plan
from backend.monitoring.schemas import PlanSchema, PromptPageSchema, PromptSchema
from backend.sharing import services as sharing

blp = Blueprint("monitoring", __name__, url_prefix="/v1", description="Monitoring plan and prompts")
blp.before_request(authenticate)


@blp.route("/plan")
class PlanView(MethodView):
    @blp.response(200, PlanSchema)
    def get(self):
        """My plan: personal limits and rule settings (defaults where I set nothing)."""
        return effective_plan(current_user())

    @blp.arguments(PlanSchema)
    @blp.response(200, PlanSchema)
    def put(self, settings):
        """Replace my plan's settings; anything left out goes back to its default."""
        plan = replace_plan(current_user(), settings)
        return plan


@blp.route("/prompts")
class Prompts(MethodView):
    @blp.arguments(RangeQuerySchema, location="query")
    @blp.response(200, PromptPageSchema)
    def get(self, args):
        """My monitoring prompts, newest first."""
        items, next_cursor = services.list_prompts(current_user(), args)
        return {"items": items, "next_cursor": next_cursor}


@blp.route("/prompts/<uuid:prompt_id>/ack")
class PromptAck(MethodView):
    @blp.response(200, PromptSchema)
    def post(self, prompt_id):
        """Mark a prompt as read."""
        prompt = services.acknowledge_prompt(current_user(), prompt_id)
        return prompt


@blp.route("/patients/<uuid:patient_id>/prompts")
class PatientPrompts(MethodView):
    @blp.arguments(RangeQuerySchema, location="query")
    @blp.response(200, PromptPageSchema)
    def get(self, args, patient_id):
        """A linked patient's monitoring prompts (with the prompts scope)."""
        sharing.viewer_share(current_user(), patient_id, "prompts")
        items, next_cursor = services.list_prompts(sharing.patient_of(patient_id), args)
        sharing.log_access(patient_id, "prompts", viewer=current_user())
        return {"items": items, "next_cursor": next_cursor}
