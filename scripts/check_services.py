"""Can ``make test-services`` reach PostgreSQL and Redis?

Reads DATABASE_URL and REDIS_URL (the Makefile sets them) and tries each with
a short timeout. Exit status:

- 0: both answer; the services leg runs.
- 1: something is missing and CI=true: the services leg is part of CI, so the
  run fails, saying what is missing.
- 75 (EX_TEMPFAIL): something is missing on a developer's machine: says what
  the leg needs and how to start it; the Makefile then skips the leg.
"""

from __future__ import annotations

import os
import sys
from urllib.parse import urlsplit, urlunsplit

SKIP = 75
TIMEOUT_SECONDS = 3


def redact(url: str) -> str:
    """The URL without its password, fit to print."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}" if parts.username else host
    return urlunsplit(parts._replace(netloc=netloc))


def _reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split()) or 'no detail'}"


def check_postgres(url: str) -> str | None:
    """None when a query runs, else why not."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=TIMEOUT_SECONDS) as connection:
            connection.execute("SELECT 1")
    except Exception as exc:  # any failure means the leg cannot run; say which
        return _reason(exc)
    return None


def check_redis(url: str) -> str | None:
    """None when PING answers, else why not."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # any failure means the leg cannot run; say which
        return _reason(exc)
    return None


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def main() -> int:
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        print(f"check_services: DATABASE_URL must be a PostgreSQL URL, got {database_url!r}.", file=sys.stderr)
        return 1
    if not redis_url.startswith(("redis://", "rediss://", "unix://")):
        print(f"check_services: REDIS_URL must be a Redis URL, got {redis_url!r}.", file=sys.stderr)
        return 1

    results = {
        f"PostgreSQL at {redact(database_url)}": check_postgres(database_url),
        f"Redis at {redact(redis_url)}": check_redis(redis_url),
    }
    missing = {name: reason for name, reason in results.items() if reason is not None}
    if not missing:
        for name in results:
            print(f"services leg: {name} — ok")
        return 0

    stream = sys.stdout  # one stream keeps the explanation in order in CI logs
    print("The services leg (make test-services) runs the whole suite against PostgreSQL and Redis.", file=stream)
    for name, reason in results.items():
        print(f"  {name}: {'ok' if reason is None else 'NOT REACHABLE (' + reason + ')'}", file=stream)
    if in_ci():
        print("CI=true: the services leg is required, so this run fails.", file=stream)
        return 1
    print(
        "\nWhat it needs:\n"
        "  - PostgreSQL with a role that may create databases (Django's test runner creates\n"
        "    test_<name> and drops it afterwards), e.g. on Debian:\n"
        "      sudo apt-get install postgresql && sudo pg_ctlcluster 15 main start\n"
        "      sudo -u postgres createdb test   (and trust or password auth for 127.0.0.1)\n"
        "  - Redis, e.g.: sudo apt-get install redis-server && redis-server --daemonize yes --port 6379\n"
        "  - Or point the leg at other servers:\n"
        "      make test-services SERVICES_DATABASE_URL=postgres://USER:PASSWORD@HOST:5432/DB "
        "SERVICES_REDIS_URL=redis://HOST:6379/0\n"
        "Skipping the services leg here (with CI=true it would fail instead).",
        file=stream,
    )
    return SKIP


if __name__ == "__main__":
    sys.exit(main())
