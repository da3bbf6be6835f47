"""The parts of "my data" cover every table once: a new table that no feature declares a part for,
or that its part neither exports nor explains, fails here before it can be forgotten by the export
or left behind by a deletion."""

import ast
import pathlib

import pytest

from backend.extensions import db
from backend.mydata.parts import PARTS
from backend.mydata.schemas import ExportSchema
from backend.sqltypes import utcnow
from tests.mydata import account_world

BACKEND = pathlib.Path(__file__).resolve().parents[2] / "backend"


def name(part):
    return part.purge.__module__


def table_of(key):
    """`access_log (reads of others' data, kept)` → `access_log`."""
    return key.split(" ", 1)[0]


def test_every_table_belongs_to_exactly_one_part(app):
    claimed = [table for part in PARTS for table in part.tables]
    assert len(claimed) == len(set(claimed)), "a table is claimed by two parts"
    with app.app_context():
        assert set(claimed) == set(db.metadata.tables)


@pytest.mark.parametrize("part", PARTS, ids=name)
def test_a_part_exports_each_of_its_tables_or_says_why_not(part):
    exported = set(part.sections.values())
    assert exported.isdisjoint(part.not_exported)
    assert exported | set(part.not_exported) == set(part.tables)
    assert all(reason.strip() for reason in part.not_exported.values())
    assert (part.export is None) == (not part.sections)
    assert set(part.kept) <= set(part.tables)


def test_the_parts_sections_are_the_export_document():
    sections = [section for part in PARTS for section in part.sections]
    assert len(sections) == len(set(sections))
    assert set(sections) == set(ExportSchema().fields) - {"exported_at"}


def test_deletion_runs_children_before_parents(app):
    """A table that points at another part's table is purged by a part earlier in PARTS, so no
    statement waits on ON DELETE CASCADE."""
    order = {table: position for position, part in enumerate(PARTS) for table in part.tables}
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for key in table.foreign_keys:
                parent = key.column.table.name
                assert order[table.name] <= order[parent], (table.name, parent)
    assert name(PARTS[-1]) == "backend.accounts.mydata"


@pytest.fixture
def world(app, client, make_person, time_machine):
    return account_world.build(app, client, make_person, time_machine)


def test_each_part_answers_with_what_it_declared(app, world):
    """On a person who has rows everywhere: an export gives exactly the part's sections, a purge a
    count for every table of the part and no other."""
    with app.app_context():
        user = world.alice.person.user
        for part in PARTS:
            if part.export is not None:
                assert set(part.export(user, utcnow())) == set(part.sections), name(part)
        for part in PARTS:
            counts = part.purge(user)
            assert {table_of(key) for key in counts} == set(part.tables), name(part)
            assert all(counts[table] for table in part.tables), (name(part), counts)
        db.session.rollback()


def imports(path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def test_only_the_app_factory_imports_the_mydata_feature():
    """My data sits at the top: features declare their parts in the kernel's terms
    (`backend.data_parts`) and never import it."""
    importers = {str(path.relative_to(BACKEND)) for path in BACKEND.rglob("*.py")
                 if "mydata" not in path.relative_to(BACKEND).parts[:1]
                 and any(module.startswith("backend.mydata") for module in imports(path))}
    assert importers <= {"__init__.py"}
