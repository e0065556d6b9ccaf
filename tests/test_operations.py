"""Every operation of the foundation's scope is routed, at its contract path and method, behind auth where due."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from tests.conftest import Api, LiveServer

OPERATIONS_FILE = Path(__file__).parent / "contract" / "operations.tsv"
IN_SCOPE = {*range(1, 46), 49, 50, *range(51, 64), *range(64, 69), *range(91, 96)}
PUBLIC = {"Health", "Login", "Refresh", "VerifyToken"}


def operations() -> list[tuple[int, dict[str, str]]]:
    with OPERATIONS_FILE.open() as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert len(rows) == 95
    return [(number, row) for number, row in enumerate(rows, start=1) if number in IN_SCOPE]


@pytest.mark.parametrize(
    ("number", "operation"),
    operations(),
    ids=lambda value: str(value) if isinstance(value, int) else value["operationId"],
)
def test_operation_is_routed(server: LiveServer, number: int, operation: dict[str, str]) -> None:
    path = re.sub(r"\{[^}]+\}", "some-id", operation["path"])
    response = Api(server.api_url).request(operation["method"], path, json={})
    assert response.status_code != 405, f"#{number} {operation['method']} {operation['path']} is not routed"
    if operation["operationId"] in PUBLIC:
        assert response.status_code in (200, 400, 401), response.text
        assert response.status_code != 404
    else:
        assert response.status_code == 401, f"#{number} must need a token: {response.text}"
        assert response.json()["code"] == "UNAUTHORIZED"


def test_success_statuses_match_the_contract(module_user: Api) -> None:
    """A spot check that creates answer 201, deletes 204 and reads 200, as operations.tsv says."""
    statuses = {row["operationId"]: int(row["success_status"]) for _, row in operations()}
    org = module_user.post("/organizations", {"name": "S", "folderPath": "status-check-org"})
    assert org.status_code == statuses["CreateOrganization"] == 201
    assert module_user.get("/organizations").status_code == statuses["ListOrganizations"] == 200
    deleted = module_user.delete(f"/organizations/{org.json()['id']}")
    assert deleted.status_code == statuses["DeleteOrganization"] == 204
