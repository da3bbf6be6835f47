"""The floor the create benchmark compares the real app against.

One POST route that decodes the JSON body and inserts the same row into the same `checkins` table
with SQLAlchemy Core: no validation, no authentication, no ORM, no response schema. Served by
gunicorn exactly like the real app: `gunicorn 'bench.bare_app:create_app()'` with DATABASE_URL
and BENCH_USER_ID (the owner of every row) in the environment.
"""

import datetime as dt
import json
import os
import uuid

import sqlalchemy as sa
from flask import Flask, request


def create_app():
    app = Flask(__name__)
    url = os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
    engine = sa.create_engine(url)
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

    return app
