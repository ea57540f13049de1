"""Schemathesis over the served OpenAPI schema, against the real server on loopback: no 5xx
for any generated request, and every documented response matches its schema.

Driven from a plain test (hypothesis `given` per operation) because schemathesis's pytest
fixture integration does not work with this pytest version."""

from __future__ import annotations

import schemathesis
from api_server import LiveServer
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from nftreg.settings import Settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance


def test_no_server_errors_and_responses_match_schema(tmp_path):
    s = Settings(data_dir=tmp_path, rpc_url="tester://", env="test", admin_api_key="test-admin-key-0123456789",
                 rate_limit_per_minute=0)
    with LiveServer(s) as srv:
        schema = schemathesis.openapi.from_url(f"{srv.url}/openapi.json")
        ops = [r.ok() for r in schema.get_all_operations()]
        assert len(ops) >= 15
        for op in ops:
            @given(case=op.as_strategy())
            @hsettings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def run(case):
                case.call_and_validate(base_url=srv.url, checks=[not_a_server_error, response_schema_conformance])

            run()
