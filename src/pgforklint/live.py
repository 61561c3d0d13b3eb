"""`pgforklint budget --database-url URL` (or `--live` with $DATABASE_URL): the real server's numbers.

Reads max_connections, superuser_reserved_connections, reserved_connections (PostgreSQL 16+), the
connecting role's rolconnlimit, and the client backends now connected per application_name and user
(pg_stat_activity, backend_type = 'client backend', this session excluded). Driver: psycopg 3, the
optional extra `pgforklint[live]`. Errors are one line; the password never appears in any output.
"""

from __future__ import annotations

import re

from pgforklint.errors import PgforklintError

QUERY_SETTINGS = """
SELECT name, setting FROM pg_settings
WHERE name IN ('max_connections', 'superuser_reserved_connections', 'reserved_connections', 'server_version_num')
"""
QUERY_ROLE = "SELECT rolname, rolconnlimit, rolsuper FROM pg_roles WHERE rolname = current_user"
QUERY_ACTIVITY = """
SELECT coalesce(application_name, ''), coalesce(usename, ''), count(*)
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2
"""


def redact(text: str, url: str | None = None) -> str:
    """Remove passwords from a text that may quote a connection string."""
    if url:
        password = _password_of(url)
        if password:
            text = text.replace(password, "***")
    text = re.sub(r"(postgres(?:ql)?(?:\+\w+)?://[^:/@\s]*:)[^@\s]*@", r"\1***@", text)
    text = re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", text, flags=re.IGNORECASE)
    return text


def _password_of(url: str) -> str | None:
    from urllib.parse import unquote, urlsplit

    try:
        parts = urlsplit(url)
        if parts.password:
            return unquote(parts.password)
    except ValueError:
        pass
    match = re.search(r"password\s*=\s*('([^']*)'|\S+)", url, re.IGNORECASE)
    if match:
        return match.group(2) if match.group(2) is not None else match.group(1)
    return None


def read_live(url: str, timeout: int = 5) -> dict:
    """The live numbers as a dict; PgforklintError (one line, redacted) on any failure."""
    try:
        import psycopg
    except ImportError:
        raise PgforklintError("--database-url needs psycopg 3: pip install 'pgforklint[live]'") from None
    url = re.sub(r"^postgres(ql)?\+\w+://", "postgresql://", url)
    try:
        with psycopg.connect(url, connect_timeout=timeout, autocommit=True, application_name="pgforklint") as conn:
            settings = {name: int(value) for name, value in conn.execute(QUERY_SETTINGS).fetchall()}
            role = conn.execute(QUERY_ROLE).fetchone()
            activity = conn.execute(QUERY_ACTIVITY).fetchall()
    except Exception as exc:  # noqa: BLE001 - every driver error becomes one clear line
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise PgforklintError(f"cannot read the live database: {redact(message, url)}") from None
    max_connections = settings.get("max_connections")
    superuser_reserved = settings.get("superuser_reserved_connections", 0)
    reserved_connections = settings.get("reserved_connections", 0)
    rolname, rolconnlimit, rolsuper = role if role else ("", -1, False)
    by_app = [{"application_name": app, "user": user, "connections": count} for app, user, count in activity]
    in_use = sum(item["connections"] for item in by_app)
    available = max_connections - (0 if rolsuper else superuser_reserved + reserved_connections)
    if rolconnlimit is not None and rolconnlimit >= 0:
        available = min(available, rolconnlimit)
    return {
        "server_version_num": settings.get("server_version_num"),
        "max_connections": max_connections,
        "superuser_reserved_connections": superuser_reserved,
        "reserved_connections": reserved_connections,
        "role": rolname,
        "role_connection_limit": rolconnlimit if rolconnlimit is not None and rolconnlimit >= 0 else None,
        "superuser": bool(rolsuper),
        "available": available,
        "in_use": in_use,
        # The seed article's count: `select count(*) from pg_stat_activity where pid <> pg_backend_pid() and
        # usename = current_user` (this role's connections now, without this one).
        "role_in_use": sum(item["connections"] for item in by_app if item["user"] == rolname),
        "free": available - in_use,
        "connections": by_app,
    }
