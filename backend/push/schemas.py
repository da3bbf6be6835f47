"""Device payloads."""

import marshmallow as ma

from backend.api import Instant, Schema, Text
from backend.push.models import PLATFORMS


class DeviceRegistrationSchema(Schema):
    token = Text(required=True, validate=ma.validate.Length(1, 1024),
                 metadata={"description": "FCM registration token"})
    platform = ma.fields.String(required=True, validate=ma.validate.OneOf(PLATFORMS))


class DeviceSchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    platform = ma.fields.String(dump_only=True)
    active = ma.fields.Boolean(dump_only=True)
    last_seen_at = Instant(dump_only=True)
    created_at = Instant(dump_only=True)
