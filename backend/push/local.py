"""The local transport of the embedded default: every push is recorded in the database and the log."""

import logging
import uuid

from backend.extensions import db
from backend.push.base import PushResult
from backend.push.models import LocalPush

log = logging.getLogger("careloop.push.local")


class LocalTransport:
    """Pretends to be FCM: accepts every message and keeps it for `careloop pushes`."""

    def send(self, messages):
        results = []
        for message in messages:
            push = LocalPush(token=message.token, title=message.title, body=message.body, data=dict(message.data),
                             collapse_key=message.collapse_key, ttl_seconds=message.ttl_seconds)
            db.session.add(push)
            # The text may carry health details when the user opted in: the log gets only the kind.
            log.info("local push (%s) to token …%s", message.data.get("type", "push"), message.token[-6:])
            results.append(PushResult(ok=True, message_id=f"local/{uuid.uuid4()}"))
        db.session.flush()
        return results
