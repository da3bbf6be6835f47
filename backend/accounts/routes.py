"""/v1/me."""

from flask.views import MethodView

from backend.accounts import services
from backend.accounts.schemas import ProfilePatchSchema, ProfileSchema
from backend.api import Blueprint, patch_schema
from backend.accounts.auth import authenticate, current_user

blp = Blueprint("accounts", __name__, url_prefix="/v1", description="Profile")
blp.before_request(authenticate)


@blp.route("/me")
class Me(MethodView):
    @blp.response(200, ProfileSchema)
    def get(self):
        """Read my profile."""
        return current_user()

    @blp.arguments(patch_schema(ProfilePatchSchema))
    @blp.response(200, ProfileSchema)
    def patch(self, changes):
        """Change my display name, time zone, quiet hours or notification privacy."""
        return services.update_profile(current_user(), changes)
