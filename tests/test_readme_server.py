"""The README's server sections say what the server does: its endpoint table lists exactly the
operations of `/openapi.json`, with the scope each one really requires, and its TOML example is a
valid config file."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from log_analytics_engine import LogAnalyticsEngine
from log_analytics_engine.server.app import create_app
from log_analytics_engine.server.settings import SCOPES, ApiKey, Settings, hash_key, load_settings

README = Path(__file__).resolve().parent.parent / "README.md"
SERVER = (
    README.read_text(encoding="utf-8").split("## Server and HTTP API", 1)[1].split("## Command line", 1)[0]
)


def _table() -> list[tuple[str, str, str]]:
    """(method, path, scope) of every operation in the README's endpoint table."""
    rows = []
    for line in SERVER.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            for operation in re.findall(r"`(GET|POST|PUT|DELETE) ([^`]+)`", cells[0]):
                rows.append((*operation, cells[1]))
    return rows


@pytest.fixture
def client() -> Iterator[TestClient]:
    keys = tuple(ApiKey(scope, hash_key(f"key-{scope}"), frozenset({scope})) for scope in SCOPES)
    engine = LogAnalyticsEngine(alert_interval=None)
    yield TestClient(create_app(engine, Settings(api_keys=keys)))
    engine.close()


def test_table_lists_every_operation(client: TestClient) -> None:
    documented = {(m, p) for m, p, _ in _table()}
    spec = client.get("/openapi.json").json()["paths"]
    served = {(method.upper(), path) for path, ops in spec.items() for method in ops}
    assert documented == served


def test_table_scopes_are_enforced(client: TestClient) -> None:
    for method, path, scope in _table():
        url = path.replace("{name}", "r")
        kwargs = {"json": {"query": "x"}} if method == "PUT" else {}
        if method == "POST":
            kwargs = {"content": b'{"message": "m"}\n'}

        def status(key: str | None, method: str = method, url: str = url, kwargs: dict = kwargs) -> int:
            headers = {"X-API-Key": key} if key else {}
            if url == "/api/v1/tail":
                with client.stream(method, url, headers=headers) as stream:
                    return stream.status_code
            return client.request(method, url, headers=headers, **kwargs).status_code

        if scope == "—":
            assert status(None) == 200, path
            continue
        assert scope in SCOPES, (path, scope)
        assert status(None) == 401, path
        assert status(f"key-{scope}") not in (401, 403), (method, path, scope)
        for other in SCOPES:
            if other not in (scope, "admin"):
                assert status(f"key-{other}") == 403, (method, path, other)


def test_toml_example_is_a_valid_config(tmp_path: Path) -> None:
    [toml] = re.findall(r"```toml\n(.*?)```", SERVER, flags=re.S)
    path = tmp_path / "server.toml"
    path.write_text(toml)
    settings = load_settings(path, env={})
    assert settings.port == 8080
    assert [k.name for k in settings.api_keys] == ["shipper"]
    assert settings.api_keys[0].sha256 == hash_key("test")


def test_web_ui_screenshots_are_committed_and_made_by_the_ui_tests() -> None:
    """Every image the README shows is a committed file, and one a UI test writes (`shot(page, NAME)`)."""
    text = README.read_text(encoding="utf-8")
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(images) >= 3  # the search page, the stats view and the alerts page at least
    shots = set()
    for test in README.parent.joinpath("tests").glob("test_*.py"):
        shots |= set(re.findall(r'shot\(page, "([\w-]+)"\)', test.read_text(encoding="utf-8")))
    for image in images:
        path = README.parent / image
        assert path.is_file(), image
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", image
        assert path.stem in shots, f"{image} is not written by any UI test"
