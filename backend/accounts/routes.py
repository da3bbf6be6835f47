"""/v1/me and /v1/devices."""

from flask.views import MethodView

from backend.accounts import services
from backend.accounts.schemas import DeviceRegistrationSchema, DeviceSchema, ProfileSchema
from backend.api import Blueprint, patch_schema
from backend.accounts.auth import authenticate, current_user

blp = Blueprint("accounts", __name__, url_prefix="/v1", description="Profile and devices")
blp.before_request(authenticate)


@blp.route("/me")
class Me(MethodView):
    @blp.response(200, ProfileSchema)
    def get(self):
        """Read my profile."""
        return current_user()

    @blp.arguments(patch_schema(ProfileSchema))
    @blp.response(200, ProfileSchema)
    def patch(self, changes):
        """Change my display name, time zone, quiet hours or notification privacy."""
        user = services.update_profile(current_user(), changes)
        return user

@blp.route("/devices")
class Devices(MethodView):
    @blp.arguments(DeviceRegistrationSchema)
    @blp.response(201, DeviceSchema)
    def post(self, data):
        """Register this phone's FCM token (repeating it is safe and reactivates it)."""
        device = services.register_device(current_user(), data["token"], data["platform"])
        return device


@blp.route("/devices/<uuid:device_id>")
class DeviceById(MethodView):
    @blp.response(204)
    def delete(self, device_id):
        """Forget a device; it receives no more pushes."""
        services.remove_device(current_user(), device_id)
