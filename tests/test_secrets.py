"""Secrets come from the environment or from files outside the repository; in production the servers
refuse to start with a published development default, while development (make run, make test) needs
no configuration at all."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ivr.cli import main
from ivr.config import PROJECT_ROOT, development_secrets, get_settings, load_settings, set_settings

PRODUCTION_SECRETS = {"ami_secret": "a" * 40, "web_secret_key": "w" * 48, "national_id_salt": "s" * 40}


def test_a_secret_is_read_from_the_file_its_setting_names(tmp_path: Path) -> None:
    (tmp_path / "ami").write_text("from-a-mounted-secret\n")
    (tmp_path / "db").write_text("postgresql://hotline:pw@db:5432/hotline")
    (tmp_path / "hotline.toml").write_text(f'web_secret_key_file = "{tmp_path / "ami"}"\n')

    settings = load_settings({"IVR_AMI_SECRET_FILE": str(tmp_path / "ami"), "IVR_DATABASE_URL_FILE": str(tmp_path / "db"),
                              "IVR_CONFIG_FILE": str(tmp_path / "hotline.toml")})

    assert settings.ami_secret == settings.web_secret_key == "from-a-mounted-secret"
    assert settings.database_url == "postgresql://hotline:pw@db:5432/hotline"


@pytest.mark.parametrize(("content", "where", "message"), [
    (None, "outside", "cannot read the secret"),
    ("", "outside", "the file is empty"),
    ("s3cret", "inside", "a secret file must be outside the repository"),
])
def test_a_secret_file_that_is_missing_empty_or_in_the_repository_is_a_clear_error(
        tmp_path: Path, content: str | None, where: str, message: str) -> None:
    folder = tmp_path if where == "outside" else PROJECT_ROOT / "var"
    path = folder / "hotline-test-secret"
    if content is not None:
        folder.mkdir(exist_ok=True)
        path.write_text(content)
    try:
        with pytest.raises(ValueError, match=re.escape(f"IVR_NATIONAL_ID_SALT_FILE={path}: {message}")):
            load_settings({"IVR_NATIONAL_ID_SALT_FILE": str(path)})
    finally:
        path.unlink(missing_ok=True)


def test_a_secret_given_both_ways_or_an_unknown_environment_is_refused(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("one")

    with pytest.raises(ValueError, match="both IVR_AMI_SECRET and IVR_AMI_SECRET_FILE"):
        load_settings({"IVR_AMI_SECRET": "two", "IVR_AMI_SECRET_FILE": str(tmp_path / "key")})
    with pytest.raises(ValueError, match="'prod' is not one of development, production"):
        load_settings({"IVR_ENVIRONMENT": "prod"})


def test_the_defaults_are_a_development_run_whose_secrets_are_all_development_values() -> None:
    settings = load_settings({})

    assert settings.environment == "development"
    assert development_secrets(settings) == ["ami_secret", "web_secret_key", "national_id_salt"]
    assert development_secrets(settings.replace(**PRODUCTION_SECRETS)) == []


@pytest.fixture
def production() -> Iterator[None]:
    previous = get_settings()
    set_settings(previous.replace(environment="production", ami_secret=PRODUCTION_SECRETS["ami_secret"]))
    yield
    set_settings(previous)


def _run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize("command", [["agi", "--port", "0"], ["web", "--port", "0"], ["worker"], ["beat"]])
def test_in_production_each_server_refuses_to_start_on_development_secrets(production: None,
                                                                          command: list[str]) -> None:
    result = _run(*command)

    assert result.exit_code == 1
    assert "environment is production but these secrets are development defaults" in result.output
    assert "IVR_WEB_SECRET_KEY (or IVR_WEB_SECRET_KEY_FILE), IVR_NATIONAL_ID_SALT" in result.output
    assert "IVR_AMI_SECRET " not in result.output  # this one was set


def test_in_production_ivr_web_refuses_dev_mode(production: None) -> None:
    set_settings(get_settings().replace(**PRODUCTION_SECRETS))

    result = _run("web", "--dev", "--port", "0")

    assert result.exit_code == 1 and "--dev is for development" in result.output
