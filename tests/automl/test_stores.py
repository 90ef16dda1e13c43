"""The stores: the Optuna storage opened with the heartbeat settings, and a store URL's
password hidden wherever it is shown (errors, settings, the browse line)."""

from __future__ import annotations

import json

import pytest

from automl._config import StudyConfig
from automl._errors import UserError
from automl._settings import RuntimeSettings
from automl._stores import check_connection_budget, open_storage, redact, scrub
from tests.automl.helpers import stores


def test_heartbeat_comes_from_the_environment(workdir, monkeypatch):
    monkeypatch.setenv("AUTOML_HEARTBEAT_INTERVAL", "3")
    monkeypatch.setenv("AUTOML_GRACE_PERIOD", "10")
    storage = open_storage(stores(workdir)["storage"])
    assert (storage.heartbeat_interval, storage.grace_period) == (3, 10)


@pytest.mark.parametrize(
    ("interval", "grace", "message"),
    [
        ("soon", "30", "AUTOML_HEARTBEAT_INTERVAL must be a whole number of seconds, got 'soon'"),
        ("10", "5", "got interval=10, grace period=5"),
        ("0", "30", "got interval=0, grace period=30"),
    ],
)
def test_bad_heartbeat_settings_are_refused(monkeypatch, interval, grace, message):
    monkeypatch.setenv("AUTOML_HEARTBEAT_INTERVAL", interval)
    monkeypatch.setenv("AUTOML_GRACE_PERIOD", grace)
    with pytest.raises(UserError, match=message):
        RuntimeSettings.from_env()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql+pg8000://me:s3cret@127.0.0.1:1/db", r"no database driver .*cnn-automl\[postgres\]"),
        ("postgresql+psycopg2://me:s3cret@127.0.0.1:1/db", "cannot open the storage"),
        ("postgres://me:s3cret@127.0.0.1:1/db", "cannot open the storage"),
        ("nosuchdb://me:s3cret@127.0.0.1:1/db", "not a storage URL SQLAlchemy understands"),
    ],
)
def test_storage_errors_are_one_line_and_hide_the_password(url, message):
    pytest.importorskip("psycopg2")
    with pytest.raises(UserError, match=message) as error:
        open_storage(url)
    assert "s3cret" not in str(error.value) and "***" in str(error.value)
    if url.startswith("postgres"):  # --workers counts the server's free connections first: a traceback there
        with pytest.raises(UserError, match=message) as error:
            check_connection_budget(url, 2)
        assert "s3cret" not in str(error.value) and "\n" not in str(error.value)


def test_error_text_that_quotes_a_store_url_loses_its_password():
    url = "postgresql://me:p%40ss@db/optuna?sslpassword=x"
    text = f"API request to {url} failed; p@ss was rejected"
    assert scrub(text, url) == "API request to postgresql://me:***@db/optuna?sslpassword=x failed; *** was rejected"
    assert scrub("a=1&password=zz, then zz", "mysql://h/db?user=u&password=zz") == "a=1&password=***, then ***"
    assert scrub("p@ss at http://h:5000/x", "http://h:5000", None) == "p@ss at http://h:5000/x"  # no password
    assert scrub(text, None) == text.replace("p%40ss@", "***@")  # a URL's own password, given or not


@pytest.mark.parametrize("key", ["password", "PASSWORD", "passwd"])
def test_a_password_in_the_query_string_is_masked(key):
    shown = redact(f"postgresql://u@h/d?{key}=s3cret&sslmode=require")
    assert "s3cret" not in shown and shown.startswith(f"postgresql://u@h/d?{key}=") and "sslmode=require" in shown


def test_the_study_settings_and_the_browse_line_show_no_password():
    from automl.cli._search import browse_line

    url = "postgresql://u:Zq9pw77@h/mlflow"
    settings = StudyConfig(tracking_uri=url, storage=url.replace("mlflow", "optuna")).to_dict(redacted=True)
    assert "Zq9pw77" not in json.dumps(settings) and settings["tracking_uri"] == "postgresql://u:***@h/mlflow"
    for uri in (url, "https://u:Zq9pw77@mlflow.example:5000"):
        assert "Zq9pw77" not in browse_line(uri) and "u:***@" in browse_line(uri)


@pytest.mark.parametrize("password", ["Hunt@er9Q", "postgres", "e"], ids=["an unencoded @", "a word", "one letter"])
def test_a_masked_password_shows_no_part_of_itself(password):
    # Masked up to its first @, a part of it showed ("***@er9Q@127.0.0.1"); masked wherever it
    # occurred, a short or common one showed where it had been ("'***ql+psycopg2://",
    # "cannot op***n th*** storag***").
    url = f"postgresql://secret_user:{password}@127.0.0.1:55432/optuna"
    message = f"cannot open the storage {url!r}: password authentication failed for user secret_user"
    assert redact(url) == "postgresql://secret_user:***@127.0.0.1:55432/optuna"
    assert scrub(message, url) == message.replace(f":{password}@", ":***@")


def test_workers_start_only_while_the_server_has_a_connection_for_each(monkeypatch):
    # A process holds up to 3 connections: a pool of 2 and 1 overflow.
    monkeypatch.setattr("automl._stores.connection_headroom", lambda url: 6)
    check_connection_budget("postgresql://u:pw@h/d", 2)  # 6 of 6
    with pytest.raises(
        UserError, match=r"3 processes need up to 9 connections \(3 each\) to 'postgresql://u:\*\*\*@h/d'"
    ):
        check_connection_budget("postgresql://u:pw@h/d", 3)
    check_connection_budget(None, 100)  # a SQLite store: no server
