"""Push transports that stand in for FCM in the outcome logic's tests, installed through the
app's declared seam (the PUSH_TRANSPORT setting), never by reaching into the app's internals."""

import pytest

from backend.push.base import UNAVAILABLE, PushResult


class ScriptedTransport:
    """Answers each token as told; every other token succeeds."""

    def __init__(self, answers):
        self.answers, self.sent = answers, []

    def send(self, messages):
        self.sent += [m.token for m in messages]
        return [self.answers.get(m.token, PushResult(ok=True, message_id=f"id-{m.token}")) for m in messages]


class FlakyTransport:
    """Answers the tokens it is told to with a server error, once each; everything else succeeds."""

    def __init__(self, failing):
        self.failing, self.sent = set(failing), []

    def send(self, messages):
        results = []
        for message in messages:
            self.sent.append(message.token)
            if message.token in self.failing:
                self.failing.discard(message.token)
                results.append(PushResult(ok=False, error=UNAVAILABLE, detail="UNAVAILABLE"))
            else:
                results.append(PushResult(ok=True, message_id=f"id-{len(self.sent)}"))
        return results


@pytest.fixture
def use_transport(app):
    """Install a push transport for one test: `use_transport(ScriptedTransport({...}))`."""
    def install(transport):
        app.config["PUSH_TRANSPORT"] = transport
        return transport
    yield install
    app.config.pop("PUSH_TRANSPORT", None)
