"""schemathesis against the audit API's own OpenAPI spec, in-process (ASGI), with an admin token
and a store filled with simulated traffic: no request may end in a server error."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from audit.api.app import create_app
from audit.tokens import create_token
from core.settings import Settings
from tests.dburl import db_url
from tests.unit.audit.audit_helpers import filled

TOKEN: dict[str, str] = {}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    db = tmp_path_factory.mktemp("fuzz") / "f.db"
    engine = filled(db, n=120).store.engine
    TOKEN["admin"] = create_token(engine, role="admin", name="fuzz")[1]
    app = create_app(Settings(database_url=db_url(db)))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_no_server_errors(api_schema) -> None:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {TOKEN['admin']}"}
    # revoking calls last, so that a DELETE /tokens/{id} hitting this token cannot mask the rest
    operations = sorted(
        (result.ok() for result in api_schema.get_all_operations()),
        key=lambda op: op.method.upper() == "DELETE",
    )
    assert any(op.path == "/reports" for op in operations)

    for op in operations:

        @given(case=op.as_strategy())
        @settings(
            max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def no_5xx(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call(headers=headers)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} {case.query} {case.body!r} -> "
                f"{response.status_code}: {response.text[:500]}"
            )

        no_5xx()
