"""/v1/plan and /v1/prompts."""

from flask.views import MethodView

from backend.api import ETAG_HEADER, IF_MATCH_PARAMETER, Blueprint, RangeQuerySchema, if_match
from backend.accounts.auth import authenticate, current_user
from backend.monitoring import services
from backend.monitoring.plan import effective_plan, plan_version, replace_plan
from backend.monitoring.schemas import PlanSchema, PromptPageSchema, PromptSchema

blp = Blueprint("monitoring", __name__, url_prefix="/v1", description="Monitoring plan and prompts")
blp.before_request(authenticate)


@blp.route("/plan")
class PlanView(MethodView):
    @blp.response(200, PlanSchema, headers=ETAG_HEADER)
    def get(self):
        """My plan: personal limits and rule settings (defaults where I set nothing)."""
        user = current_user()
        return effective_plan(user), {"ETag": plan_version(user)}

    @blp.arguments(PlanSchema)
    @blp.response(200, PlanSchema, headers=ETAG_HEADER)
    @blp.doc(parameters=[IF_MATCH_PARAMETER])
    def put(self, settings):
        """Replace my plan's settings; anything left out goes back to its default (If-Match: only if
        unchanged since read)."""
        user = current_user()
        plan = replace_plan(user, settings, expected=if_match())
        return plan, {"ETag": plan_version(user)}


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
