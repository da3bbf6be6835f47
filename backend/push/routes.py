"""/v1/devices: the phones a person's pushes go to."""

from flask.views import MethodView

from backend.accounts.auth import authenticate, current_user
from backend.api import Blueprint, request_client
from backend.push import services
from backend.push.schemas import DeviceRegistrationSchema, DeviceSchema

blp = Blueprint("devices", __name__, url_prefix="/v1", description="Devices that receive pushes")
blp.before_request(authenticate)


@blp.route("/devices")
class Devices(MethodView):
    @blp.arguments(DeviceRegistrationSchema)
    @blp.response(201, DeviceSchema)
    def post(self, data):
        """Register this phone's FCM token (repeating it is safe and reactivates it)."""
        return services.register_device(current_user(), data["token"], data["platform"], request_client())


@blp.route("/devices/<uuid:device_id>")
class DeviceById(MethodView):
    @blp.response(204)
    def delete(self, device_id):
        """Forget a device; it receives no more pushes."""
        services.remove_device(current_user(), device_id)
