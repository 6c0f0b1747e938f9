"""Server settings (server/settings.py): TOML file, LOG_ANALYTICS_* environment and flags, in that order
of precedence; every error names the file, section or variable and the key."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from log_analytics_engine import ConfigError
from log_analytics_engine.server.settings import Settings, hash_key, load_settings

DIGEST = hashlib.sha256(b"secret").hexdigest()


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "server.toml"
    path.write_text(text)
    return path


def test_defaults_are_loopback_and_bounded() -> None:
    settings = load_settings(env={})
    assert (settings.host, settings.port, settings.data, settings.api_keys) == ("127.0.0.1", 8080, None, ())
    assert settings.max_body_bytes == 16 * 1024 * 1024
    settings.check_bind()


def test_file_then_env_then_flags(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        f"""
[server]
host = "0.0.0.0"
port = 9000
data = "/srv/logs"
[limits]
max_body_bytes = 1000
max_search_limit = 50
[[api_keys]]
name = "shipper"
sha256 = "{DIGEST}"
scopes = ["ingest"]
""",
    )
    env = {"LOG_ANALYTICS_PORT": "9100", "LOG_ANALYTICS_MAX_SEARCH_LIMIT": "70"}
    env["LOG_ANALYTICS_API_KEYS"] = f"reader:query:{hash_key('other')} boss:ingest+admin:{DIGEST}"
    settings = load_settings(config, env=env, port=9200, host=None)
    assert (settings.host, settings.port, settings.data) == ("0.0.0.0", 9200, Path("/srv/logs"))
    assert (settings.max_body_bytes, settings.max_search_limit) == (1000, 70)
    assert [(k.name, sorted(k.scopes)) for k in settings.api_keys] == [
        ("shipper", ["ingest"]),
        ("reader", ["query"]),
        ("boss", ["admin", "ingest"]),
    ]
    assert settings.api_keys[2].allows("query")  # admin may do everything
    assert not settings.api_keys[0].allows("query")
    settings.check_bind()  # keys configured: any address


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[server]\nport = 'x'\n", "[server] port must be a int, got 'x'"),
        ("[server]\nprot = 1\n", "[server] unknown key 'prot'; keys: host, port, data, rules, insecure"),
        (
            "[srv]\n",
            "unknown section [srv]; sections: server, limits, ingest, protocols, syslog, formats, api_keys",
        ),
        ("[server\n", "not valid TOML"),
        (
            "[[api_keys]]\nname = 'a'\nsha256 = 'abc'\nscopes = ['ingest']\n",
            "api_keys[0] (a): sha256: required",
        ),
        (
            f"[[api_keys]]\nname = 'a'\nsha256 = '{DIGEST}'\nscopes = ['root']\n",
            "scopes: a non-empty list of",
        ),
        ("[limits]\nmax_body_bytes = 0\n", "max_body_bytes must be at least 1, got 0"),
    ],
)
def test_config_errors_name_the_place(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(_config(tmp_path, text), env={})
    assert message in str(info.value)


def test_environment_errors_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LOG_ANALYTICS_PORT must be an integer, got 'eighty'"):
        load_settings(env={"LOG_ANALYTICS_PORT": "eighty"})
    with pytest.raises(ConfigError, match="LOG_ANALYTICS_API_KEYS item 1: expected name:scope"):
        load_settings(env={"LOG_ANALYTICS_API_KEYS": "just-a-key"})
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "absent.toml", env={})


def test_public_bind_needs_keys_or_insecure() -> None:
    with pytest.raises(ConfigError, match=r"refusing to listen on 0\.0\.0\.0 without API keys"):
        Settings(host="0.0.0.0").check_bind()
    Settings(host="0.0.0.0", insecure=True).check_bind()
    Settings(host="::1").check_bind()
    Settings(host="localhost").check_bind()
    assert load_settings(env={"LOG_ANALYTICS_INSECURE": "true"}).insecure
