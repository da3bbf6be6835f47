"""The floors the app is compared against, served by gunicorn exactly like the real app:
`gunicorn -c python:backend.gunicorn_conf 'bench.bare_app:create_app()'`, on an engine with the
app's own settings (backend/config.py: pool pre-ping, keepalives), with DATABASE_URL in the
environment.

- `POST /checkins` (foundation): decodes the JSON body and inserts the same row into the same
  `checkins` table with SQLAlchemy Core, owned by BENCH_USER_ID: no validation, no
  authentication, no ORM, no response schema.
- `GET /report-replay` (report): the statements one report render sent, recorded with their
  parameters (a pickle at BENCH_REPORT_STATEMENTS), sent again in one transaction: reads fetched
  whole (every row made, a hundred at a time), the access-log entry inserted under a new id, the
  commit; answers with the page that render produced (BENCH_REPORT_PAGE). The database work of a
  render, and nothing else.
"""

import datetime as dt
import json
import os
import pickle
import uuid
from pathlib import Path

import sqlalchemy as sa
from flask import Flask, Response, request


def create_app():
    from backend.config import load_config

    app = Flask(__name__)
    config = load_config(app.instance_path)
    engine = sa.create_engine(config["SQLALCHEMY_DATABASE_URI"], **config["SQLALCHEMY_ENGINE_OPTIONS"])

    if os.environ.get("BENCH_USER_ID"):
        checkins = sa.Table("checkins", sa.MetaData(), autoload_with=engine)
        user_id = uuid.UUID(os.environ["BENCH_USER_ID"])

        @app.post("/checkins")
        def create_checkin():
            body = json.loads(request.get_data())
            now = dt.datetime.now(dt.timezone.utc)
            row = {"side_effects": [], "withdrawal_symptoms": [], **body,
                   "id": uuid.UUID(body["id"]), "recorded_at": dt.datetime.fromisoformat(body["recorded_at"]),
                   "user_id": user_id, "created_at": now, "updated_at": now}
            with engine.begin() as connection:
                connection.execute(checkins.insert(), row)
            return {"id": body["id"]}, 201

    if os.environ.get("BENCH_REPORT_STATEMENTS"):
        statements = pickle.loads(Path(os.environ["BENCH_REPORT_STATEMENTS"]).read_bytes())
        page = Path(os.environ["BENCH_REPORT_PAGE"]).read_bytes()

        @app.get("/report-replay")
        def replay_report():
            with engine.connect() as connection:
                for statement, parameters in statements:
                    if statement.lstrip().upper().startswith("INSERT INTO ACCESS_LOG"):
                        parameters = {**parameters, "id": uuid.uuid4()}  # a new entry, as each render writes
                    result = connection.exec_driver_sql(statement, parameters)
                    if result.returns_rows:
                        # Every row made, a hundred at a time: rows held till the end of the
                        # request would cost collections of the heap besides the database's work.
                        for _ in result.partitions(100):
                            pass
                connection.commit()
            return Response(page, mimetype="text/html")

    return app
