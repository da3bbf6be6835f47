"""Extensions, created unbound and bound to the app in create_app()."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData

from backend.api import Api

# Stable constraint names so Alembic migrations are identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Views return the objects they just committed; expiring them on commit would make serialising the
# response re-read every row it just wrote (a second connection checkout and round trips).
db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION),
                session_options={"expire_on_commit": False})
migrate = Migrate()
api = Api()
# Rate-limit state lives in Redis (REDIS_URL) when several API processes run, else in memory.
limiter = Limiter(key_func=get_remote_address)
