"""docker-compose.yml and production settings: valid, complete, and `check --deploy` clean."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
DJANGO_SERVICES = {"web", "worker", "worker-gpu", "beat", "migrate"}
COMPOSE_ENV = {
    "REGISTRY_HOST": "registry.example.org",
    "POSTGRES_PASSWORD": "pw",
    "S3_PUBLIC_URL": "https://s3.example.org",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    binary = shutil.which("docker-compose")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is missing: .ci/run installs Debian's docker-compose package")
        pytest.skip("Debian's docker-compose package is not installed (CI installs it)")
    done = subprocess.run(
        [binary, "config"],
        cwd=ROOT,
        env={**os.environ, **COMPOSE_ENV},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def test_compose_has_every_service_from_one_image(compose: dict) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "s3", *DJANGO_SERVICES}
    ours = {name for name, s in services.items() if s.get("image") == "consortium-registry:latest"}
    assert ours == {"s3", *DJANGO_SERVICES}
    assert all(services[name].get("build") for name in DJANGO_SERVICES)


def test_every_django_service_sets_what_production_settings_require(compose: dict) -> None:
    for name in DJANGO_SERVICES:
        env = compose["services"][name]["environment"]
        missing = [v for v in settings.REQUIRED_IN_PRODUCTION if v not in env and f"{v}_FILE" not in env]
        assert missing == [], f"{name} lacks {missing}"
        secret_files = {f"/run/secrets/{s['source']}" for s in compose["services"][name]["secrets"]}
        assert {v for k, v in env.items() if k.endswith("_FILE")} <= secret_files


def test_workers_consume_their_queues(compose: dict) -> None:
    command = {name: " ".join(compose["services"][name]["command"]) for name in ("worker", "worker-gpu", "beat")}
    assert "--queues=default" in command["worker"]
    assert "--queues=gpu" in command["worker-gpu"]
    assert " beat " in command["beat"]
    devices = compose["services"]["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]


def _service_env(compose: dict, name: str, tmp_path: Path) -> dict[str, str]:
    """The service's environment as the container would see it, secrets written to temp files."""
    env = {k: str(v) for k, v in compose["services"][name]["environment"].items()}
    for key, value in list(env.items()):
        if key.endswith("_FILE"):
            path = tmp_path / Path(value).name
            path.write_text(secrets.token_urlsafe(50))
            env[key] = str(path)
    return {"PATH": os.environ["PATH"], "CONSORTIUM_VAR_DIR": str(tmp_path), **env}


def test_check_deploy_is_clean_with_the_web_service_environment(compose: dict, tmp_path: Path) -> None:
    env = _service_env(compose, "web", tmp_path)
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def _settings_in(env: dict[str, str], expression: str) -> subprocess.CompletedProcess:
    code = f"import django; django.setup(); from django.conf import settings; print({expression})"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def _bare_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Only what a settings import needs, so nothing from the test run leaks in."""
    return {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "consortium.settings",
        "DJANGO_SECRET_KEY": "x" * 60,
        "CONSORTIUM_VAR_DIR": str(tmp_path),
        **extra,
    }


def test_production_settings_refuse_to_start_with_a_missing_variable(tmp_path: Path) -> None:
    done = _settings_in(_bare_env(tmp_path, DJANGO_SECURE="true"), "1")
    assert done.returncode != 0
    assert "production (DJANGO_SECURE=true) needs these set: DJANGO_ALLOWED_HOSTS" in done.stderr
    assert "DATABASE_URL" in done.stderr


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("DJANGO_DEBUG", "yes please", "DJANGO_DEBUG='yes please': expected true or false"),
        ("DATABASE_CONN_MAX_AGE", "soon", "DATABASE_CONN_MAX_AGE='soon': expected an integer"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT='xml': expected json or console"),
        ("DJANGO_SECRET_KEY_FILE", "/nonexistent/secret", "DJANGO_SECRET_KEY_FILE='/nonexistent/secret': cannot read"),
    ],
)
def test_bad_settings_values_stop_start_up_naming_the_variable(
    tmp_path: Path, name: str, value: str, problem: str
) -> None:
    done = _settings_in(_bare_env(tmp_path, DJANGO_SECURE="false", **{name: value}), "1")
    assert done.returncode != 0
    assert problem in done.stderr


def test_api_defaults_deny_and_never_allow_any() -> None:
    drf = settings.REST_FRAMEWORK
    assert drf["DEFAULT_PERMISSION_CLASSES"] == ["rest_framework.permissions.IsAuthenticated"]
    assert "rest_framework.authentication.TokenAuthentication" not in drf["DEFAULT_AUTHENTICATION_CLASSES"]
    assert settings.SESSION_COOKIE_HTTPONLY is True
    assert "*" not in settings.ALLOWED_HOSTS
