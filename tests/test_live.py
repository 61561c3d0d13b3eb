"""`pgforklint budget --database-url`: against the real PostgreSQL on 127.0.0.1:5432 (user postgres, trust)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pgforklint.cli import main

psycopg = pytest.importorskip("psycopg") if os.environ.get("CI") != "true" else __import__("psycopg")

FIXTURES = Path(__file__).parent / "fixtures"
URL = "postgresql://postgres@127.0.0.1:5432/postgres"
APP = "pgforklint-test-live"


def _server_or_skip():
    try:
        return psycopg.connect(URL, connect_timeout=3, autocommit=True)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432: {exc}")


def test_live_numbers_match_the_server(capsys):
    admin = _server_or_skip()
    with admin:
        max_connections = int(admin.execute("SHOW max_connections").fetchone()[0])
        reserved = int(admin.execute("SHOW superuser_reserved_connections").fetchone()[0])
        opened = [psycopg.connect(URL, application_name=APP, autocommit=True) for _ in range(3)]
        try:
            code = main(["budget", str(FIXTURES / "ok_budget_fits"), "--database-url", URL, "--format", "json"])
            data = json.loads(capsys.readouterr().out)
        finally:
            for conn in opened:
                conn.close()
    live = data["live"]
    assert code == 0
    assert live["max_connections"] == max_connections
    assert live["superuser_reserved_connections"] == reserved
    mine = [c for c in live["connections"] if c["application_name"] == APP]
    assert mine == [{"application_name": APP, "user": "postgres", "connections": 3}]
    assert live["in_use"] >= 4  # the three above and the admin session
    # the seed's count (same user, not pgforklint's own session) includes the three and the admin session
    assert live["role_in_use"] >= 4 and live["role_in_use"] == sum(
        c["connections"] for c in live["connections"] if c["user"] == "postgres")
    assert data["expected_peak"] == 6  # the static numbers stay beside the live ones


def test_live_from_database_url_env(capsys, monkeypatch):
    _server_or_skip().close()
    monkeypatch.setenv("DATABASE_URL", URL)
    assert main(["budget", str(FIXTURES / "ok_budget_fits"), "--live"]) == 0
    out = capsys.readouterr().out
    assert "Live server (role postgres" in out and "max_connections" in out
    assert "this role's connections now (same user, not this session)" in out


def test_connection_error_is_one_line_without_the_password(capsys):
    secret = "Sup3rS3cretPw"
    code = main(["budget", str(FIXTURES / "ok_budget_fits"), "--database-url",
                 f"postgresql://nobody:{secret}@127.0.0.1:1/db"])
    captured = capsys.readouterr()
    assert code == 2
    assert secret not in captured.err and secret not in captured.out
    assert captured.err.startswith("pgforklint: error: cannot read the live database:")
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err


def test_wrong_password_message_is_redacted(capsys):
    admin = _server_or_skip()
    admin.close()
    secret = "An0therS3cret"
    code = main(["budget", str(FIXTURES / "ok_budget_fits"), "--database-url",
                 f"postgresql://no_such_role_pgforklint:{secret}@127.0.0.1:5432/postgres"])
    captured = capsys.readouterr()
    assert code == 2 and secret not in captured.err + captured.out
    assert captured.err.count("\n") == 1


def test_live_without_database_url(capsys, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert main(["budget", str(FIXTURES / "ok_budget_fits"), "--live"]) == 2
    assert "DATABASE_URL" in capsys.readouterr().err


def test_redact_keyword_dsn():
    from pgforklint.live import redact

    assert "hunter2" not in redact("host=x password=hunter2 user=y")
    assert "hunter2" not in redact("postgresql://u:hunter2@h/db")
