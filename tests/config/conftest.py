"""Run Django in a child process with a controlled environment.

Settings are read once per process, so start-up behaviour (refusing bad
configuration, the deploy check) is tested in a fresh interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]

# Everything config/settings.py reads that would change what is being tested:
# the child starts from the embedded default plus what the test sets.
SETTINGS_VARIABLES = (
    "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "DATABASE_URL", "DB_CONN_MAX_AGE",
    "REDIS_URL", "REDIS_MAX_CONNECTIONS", "CHANNEL_CAPACITY", "TASK_BACKEND", "SERVE_STATIC", "STATIC_ROOT",
    "MEDIA_ROOT", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "EMAIL_BACKEND", "DJANGO_SETTINGS_MODULE",
    "BID_MAX_SIZE", "BID_UPLOAD_PART_SIZE", "RECEIPT_SIGNING_KEY",
    "CHANNEL_LAYER", "REDIS_SOCKET_TIMEOUT", "CHANNEL_EXPIRY", "CHANNEL_GROUP_EXPIRY", "OPENING_POLL_SECONDS",
)

RunDjango = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_django(tmp_path) -> RunDjango:
    """``run_django(*argv, **env)``: run ``python *argv`` in the project with only ``env`` configured."""

    def run(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
        child_env = {name: value for name, value in os.environ.items() if name not in SETTINGS_VARIABLES}
        child_env.update(DJANGO_SETTINGS_MODULE="config.settings", SUNBID_VAR_DIR=str(tmp_path / "var"))
        child_env.update(env)
        return subprocess.run(
            [sys.executable, *argv],
            cwd=BASE_DIR,
            env=child_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return run
