"""GET /metrics: Prometheus counts and timings, labelled without anything about a person."""

import datetime as dt
import re

import jobs
from tests.conftest import checkin_body
from tests.support import NOW


def metric(text, name, **labels):
    """The value of one sample, 0 when absent."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(name + "{"):
            sample_labels = ",".join(sorted(line[len(name) + 1:line.index("}")].split(",")))
            if sample_labels == wanted:
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_requests_are_counted_by_route_template_never_by_id(client, alice):
    before = client.get("/metrics").get_data(as_text=True)
    created = client.post("/v1/checkins", json=checkin_body(note="private words"), headers=alice.headers)
    client.get(f"/v1/checkins/{created.json['id']}", headers=alice.headers)
    client.get("/v1/checkins/00000000-0000-0000-0000-000000000000", headers=alice.headers)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    route = "/v1/checkins/<uuid:checkin_id>"
    assert metric(text, "careloop_http_requests_total", method="GET", route=route, status="200") == \
        metric(before, "careloop_http_requests_total", method="GET", route=route, status="200") + 1
    assert metric(text, "careloop_http_requests_total", method="GET", route=route, status="404") == \
        metric(before, "careloop_http_requests_total", method="GET", route=route, status="404") + 1
    assert metric(text, "careloop_http_request_seconds_count", method="POST", route="/v1/checkins") >= 1
    assert created.json["id"] not in text and "private words" not in text
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", text)


def test_job_runs_and_push_outcomes_are_counted(app, client, alice, time_machine):
    import datetime as dt
    import uuid

    time_machine.move_to(dt.datetime(2026, 11, 25, 8, tzinfo=dt.timezone.utc), tick=False)
    client.post("/v1/devices", json={"token": "metrics-phone", "platform": "android"}, headers=alice.headers)
    client.post("/v1/reminders", json={"id": str(uuid.uuid4()), "kind": "checkin", "times": ["09:00"]},
                headers=alice.headers)
    before = client.get("/metrics").get_data(as_text=True)
    time_machine.move_to(dt.datetime(2026, 11, 25, 9, tzinfo=dt.timezone.utc), tick=False)
    jobs.run_once(app)
    text = client.get("/metrics").get_data(as_text=True)
    assert metric(text, "careloop_push_results_total", outcome="sent") == \
        metric(before, "careloop_push_results_total", outcome="sent") + 1
    assert metric(text, "careloop_job_runs_total", job="send-reminders", result="ok") == \
        metric(before, "careloop_job_runs_total", job="send-reminders", result="ok") + 1
    assert metric(text, "careloop_job_items_total", job="send-reminders") > \
        metric(before, "careloop_job_items_total", job="send-reminders")


def test_with_a_metrics_token_only_a_scraper_sending_it_reads_metrics(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "CARELOOP_METRICS_TOKEN", "scrape-token-of-some-length")
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    response = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-of-some-length"})
    assert response.status_code == 200
    assert "careloop_http_requests_total" in response.get_data(as_text=True)


def test_production_without_a_metrics_token_serves_no_metrics(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "CARELOOP_ENV", "production")
    assert client.get("/metrics").status_code == 404


def test_made_up_methods_are_counted_as_other_not_as_new_series(client):
    for method in ("FOOBAR", "BAZQUX"):
        client.open("/v1/me", method=method)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'method="other"' in text
    assert "FOOBAR" not in text and "BAZQUX" not in text


def test_operators_see_what_is_waiting_and_how_late_without_personal_labels(app, client, alice, clock):
    from backend import events
    from backend.extensions import db

    with app.app_context():
        events.record(events.DoseLogged(alice.user.id, alice.user.id))
        db.session.commit()
    clock.move_to(NOW + dt.timedelta(minutes=5), tick=False)
    text = client.get("/metrics").get_data(as_text=True)
    assert "careloop_outbox_pending 1.0" in text
    assert "careloop_outbox_oldest_pending_seconds 300.0" in text
    assert "careloop_reminders_due_unsent 0.0" in text
    assert "careloop_pushes_awaiting_retry 0.0" in text
    assert "careloop_reminder_push_lag_seconds_bucket" in text
    assert alice.id not in text
