from tests.conftest import Api, LiveServer, Tree


def test_health_needs_no_token(server: LiveServer) -> None:
    response = Api(server.api_url).get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["uptime"] >= 0


def test_tree_fixture_creates_folders(server: LiveServer, tree: Tree) -> None:
    folder = (
        server.settings.base_root / tree.org["folderPath"] / tree.workspace["folderPath"] / tree.project["folderPath"]
    )
    assert folder.is_dir()
