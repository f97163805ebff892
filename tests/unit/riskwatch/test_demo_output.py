"""What `make demo` ends with: the incident counts beside the findings they group."""

from __future__ import annotations

from riskwatch.demo import incidents_line


def test_the_demo_states_incidents_and_the_findings_they_group() -> None:
    totals = {
        "findings": {"technical": 1000, "legal": 199},
        "incidents_by_status": {"open": 10, "acknowledged": 2, "resolved": 19},
    }
    assert incidents_line(totals) == (
        "incidents: 31 (12 open, 19 closed) from 1,199 findings (riskwatch audit incidents)"
    )
    assert incidents_line({"findings": {}, "incidents_by_status": {}}).startswith(
        "incidents: 0 (0 open, 0 closed) from 0 findings"
    )
