"""Where studies live: the default Optuna storage and MLflow store under ``mlruns/``.

Both default to SQLite files in ``mlruns/`` of the current directory (MLflow 3.17's plain
file store refuses to start without ``MLFLOW_ALLOW_FILE_STORE``, so it is not used).
Many workers, on one host or many, share a study through ``open_storage``: heartbeats fail
the trials of dead workers, bounded retries re-queue them, and connection pools are sized
so that the workers fit in the database server's ``max_connections``.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import importlib.util
import os
import re
import sqlite3
import warnings
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from automl._errors import UserError
from automl._handoff import STORAGE_ENV, TRACKING_URI_ENV, from_env, passwords
from automl._settings import runtime_settings

if TYPE_CHECKING:
    import optuna

__all__ = [
    "mlruns_dir",
    "default_storage",
    "default_tracking_uri",
    "artifact_root",
    "model_cache",
    "open_storage",
    "ensure_sqlite_folder",
    "sqlite_file",
    "CONNECTIONS_PER_PROCESS",
    "check_connection_budget",
    "connection_headroom",
    "redact",
    "scrub",
    "normalize_url",
    "store_lock",
]


def mlruns_dir() -> Path:
    """The local store folder: ``RuntimeSettings.home`` (``mlruns/`` in the current directory)."""
    return runtime_settings().home


def _sqlite_uri(name: str) -> str:
    """The URL of SQLite file ``name`` in the store folder, whatever characters its path holds.

    SQLAlchemy decodes a URL's path (``%41`` is ``A``) after cutting it at ``?``: a ``%``
    or ``?`` in the folder's path is encoded, and ``sqlite_file`` decodes it back.
    """
    path = str((mlruns_dir() / name).resolve())
    return "sqlite:///" + path.replace("%", "%25").replace("?", "%3F")


def sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///path`` URL, read as SQLAlchemy reads it; None for other URLs."""
    if not url.startswith("sqlite:///"):
        return None
    return Path(unquote(url[len("sqlite:///") :].split("?", 1)[0])).expanduser()


def default_storage() -> str:
    """The Optuna storage where none is given: ``$AUTOML_STORAGE``, else ``mlruns/optuna.db``.

    The environment comes after a study file's ``storage`` and the ``--storage`` flag: it
    keeps a URL's password off command lines (``automl._handoff``).
    """
    return from_env(STORAGE_ENV) or _sqlite_uri("optuna.db")


def default_tracking_uri() -> str:
    """The MLflow store where none is given: ``$AUTOML_TRACKING_URI``, else ``mlruns/mlflow.db``."""
    return from_env(TRACKING_URI_ENV) or _sqlite_uri("mlflow.db")


def artifact_root(*, create: bool = True) -> str:
    """The artifact location for experiments we create on a local tracking store (the folder
    made unless not ``create``)."""
    path = (mlruns_dir() / "artifacts").resolve()
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path.as_uri()


def model_cache(model_id: str) -> Path:
    """This machine's copy of MLflow logged model ``model_id`` (not created here: see ``automl._models``)."""
    return mlruns_dir() / "models" / model_id


def ensure_sqlite_folder(url: str) -> str:
    """Create the folder of a ``sqlite:///path`` URL (SQLite cannot create it); returns ``url``."""
    if (path := sqlite_file(url)) is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    return url


# --- the Optuna storage shared by all workers of a study ---

MAX_RETRY = 1  # a trial whose worker died runs once more; a second death leaves it failed

# Connection pool per process on a database server (PostgreSQL, MySQL): one connection for
# the trial loop, one for the heartbeat thread, one spare. So a process holds at most
# CONNECTIONS_PER_PROCESS connections, and workers x CONNECTIONS_PER_PROCESS must stay below
# the server's max_connections (PostgreSQL's default: 100, of which 3 are reserved).
POOL_SIZE = 2
MAX_OVERFLOW = 1
CONNECTIONS_PER_PROCESS = POOL_SIZE + MAX_OVERFLOW


def redact(url: str) -> str:
    """``url`` with its password (in the user part or a ``password`` query key) masked.

    Every URL that is shown or logged (messages, printed commands, MLflow params and
    tags) goes through here, so credentials never leave the process.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    url = _USERINFO_PASSWORD.sub(r"\1***@", url)  # up to the last @: a password may hold one unencoded
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return url
    query = {k: ("***" if k.lower() in ("password", "passwd") else v) for k, v in parsed.query.items()}
    return (
        parsed.update_query_dict(query).render_as_string(hide_password=True)
        if query
        else (parsed.render_as_string(hide_password=True))
    )


# The password in a URL's user part: from the colon after the user name to the last @ before
# the path (a password written with an unencoded @ is all of it, not the part before the first).
_USERINFO_PASSWORD = re.compile(r"(://[^/:@\s'\"]*:)[^/\s'\"]*@")


def scrub(text: str, *urls: str | None) -> str:
    """``text`` (an error message that may quote the URLs, as MLflow's and SQLAlchemy's do)
    with the password of any URL in it masked, and each of ``urls``' passwords wherever it
    stands on its own (as written or percent-decoded). Not inside a word: a password
    ``postgres`` masked in ``postgresql://`` would say what it is."""
    text = _USERINFO_PASSWORD.sub(r"\1***@", text)
    for url in urls:
        for password in passwords(url):
            text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(password)}(?![A-Za-z0-9])", "***", text)
    return text


def normalize_url(url: str) -> str:
    """``url`` with a plain ``postgresql://`` bound to the driver the ``[postgres]`` extra installs.

    SQLAlchemy 2.1 maps ``postgresql://`` to psycopg 3, but the extra installs psycopg2:
    without psycopg 3 the URL names ``postgresql+psycopg2://``. Both Optuna and MLflow
    URLs pass through here (``open_storage``, ``Tracker``, ``automl ui``).
    """
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix) and importlib.util.find_spec("psycopg") is None:
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


# What each purpose of ``store_lock`` locks, as its errors name it.
STORE_NAMES = {"optuna": "storage", "mlflow": "MLflow tracking store"}

_held: dict[str, int] = {}


@contextlib.contextmanager
def store_lock(url: str | None, purpose: str = "optuna") -> Iterator[None]:
    """Hold the store's lock: what processes starting together must do one at a time.

    Creating a store's tables, creating or loading a study, topping up its queue, opening
    its MLflow parent run and electing who compares and exports are each read-then-write
    steps; two processes started at the same moment would both do them. A SQLite or
    journal-file store is locked with ``flock`` on a ``.lock`` file beside it (one host,
    as SQLite needs anyway); PostgreSQL with a session advisory lock, which blocks no
    ordinary write. Other servers are not locked. Re-entrant within a process.
    """
    url = url or default_storage()
    key = f"{purpose}:{url}"
    if _held.get(key):
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    with _acquire(url, purpose):
        _held[key] = 1
        try:
            yield
        finally:
            del _held[key]


def _is_journal(url: str) -> bool:
    """Whether ``url`` is a journal file's path (``study.log``, ``study.jsonl``)."""
    return url.endswith((".log", ".jsonl")) and "://" not in url


@contextlib.contextmanager
def _acquire(url: str, purpose: str) -> Iterator[None]:
    path = _local_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Not ``study.log.lock`` beside a journal file: Optuna's own journal lock is a link of
        # that name, which waited 30 s on ours before it deleted it (a one-trial search: 199 s).
        lock = f"{path}.automl.lock" if _is_journal(url) else f"{path}.lock"
        with open(lock, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    if not url.startswith("postgres"):
        yield
        return
    import zlib

    import sqlalchemy

    key = zlib.crc32(f"automl:{purpose}".encode())
    with _storage_errors(url, STORE_NAMES.get(purpose, "storage")):
        engine = sqlalchemy.create_engine(normalize_url(url), poolclass=sqlalchemy.pool.NullPool)
        connection = engine.connect()
    try:
        connection.exec_driver_sql(f"SELECT pg_advisory_lock({key})")
        connection.commit()
        try:
            yield
        finally:
            connection.exec_driver_sql(f"SELECT pg_advisory_unlock({key})")
            connection.commit()
    finally:
        connection.close()
        engine.dispose()


@contextlib.contextmanager
def _storage_errors(url: str, what: str = "storage") -> Iterator[None]:
    """Turn the ways a store's URL fails to open into one-line ``UserError``s, its password
    masked; ``what`` names the store (the Optuna "storage", or the "MLflow tracking store")."""
    import sqlalchemy

    try:
        yield
    except ImportError as exc:
        hint = " (pip install 'cnn-automl[postgres]')" if url.startswith("postgres") else ""
        raise UserError(
            f"no database driver for the {what} {redact(url)!r}{hint}: {scrub(str(exc.__cause__ or exc), url)}"
        ) from None
    except sqlalchemy.exc.ArgumentError as exc:
        raise UserError(f"not a {what} URL SQLAlchemy understands: {redact(url)!r} ({scrub(str(exc), url)})") from None
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise UserError(f"cannot open the {what} {redact(url)!r}: {scrub(_first_line(exc), url)}") from None
    except ValueError as exc:  # a URL SQLAlchemy parsed but the driver cannot use (a port that is no number)
        raise UserError(f"cannot open the {what} {redact(url)!r}: {scrub(str(exc), url)}") from None


def _local_file(url: str) -> Path | None:
    """The file of a SQLite URL or a journal-file path, else None."""
    if (path := sqlite_file(url)) is not None:
        return path
    if _is_journal(url):
        return Path(url).expanduser()
    return None


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig or exc).strip().splitlines()[0] if str(orig or exc).strip() else type(exc).__name__


def _engine_kwargs(url: str) -> dict[str, Any]:
    if url.startswith("sqlite:///file:"):  # read-only: no writes, so no transaction control needed
        return {"connect_args": {"timeout": 60}}
    if url.startswith("sqlite"):
        # isolation_level=None hands transaction control to _begin_immediate (see there).
        return {"connect_args": {"timeout": 60, "isolation_level": None}}
    return {"pool_size": POOL_SIZE, "max_overflow": MAX_OVERFLOW, "pool_pre_ping": True}


# The SQLite engines open in this process, closed at its exit (``_close_sqlite_engines``).
_SQLITE_ENGINES: weakref.WeakSet[Any] = weakref.WeakSet()
# The SQLite files opened read-only in this process, tidied at its exit (``_tidy_after_reader``).
_READ_ONLY_FILES: set[Path] = set()


@atexit.register
def _close_sqlite_engines() -> None:
    """Close the pooled connections of the SQLite stores still open: the last connection to
    close folds the write-ahead log into the database file and removes ``optuna.db-wal`` and
    ``-shm``, so the database file alone holds the study (a copy of it lacks nothing)."""
    for engine in list(_SQLITE_ENGINES):
        engine.dispose()
    for path in sorted(_READ_ONLY_FILES):
        _tidy_after_reader(path)


def _tidy_after_reader(path: Path) -> None:
    """Remove the empty write-ahead log and shared-memory index that a read-only reader
    (``automl status``) made SQLite open beside ``path``, which a read-only connection cannot
    remove itself: a writable connection that reads and closes does, if it is the last one
    open. While another process has the store open (a search), SQLite keeps both files, and
    where the store or its folder is read-only, nothing is tried."""
    if not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
        return
    with contextlib.suppress(sqlite3.Error, OSError), contextlib.closing(sqlite3.connect(path, timeout=1)) as reader:
        reader.execute("SELECT count(*) FROM sqlite_master").fetchone()


def _use_wal(engine: Any) -> None:
    """Write-ahead logging for SQLite: readers never block the writer, and a commit needs one
    fsync less (``synchronous=NORMAL``); measured 6 ms -> 1 ms per ``suggest_*`` call.

    The journal mode is stored in the database file, so it is set once (outside any
    transaction); ``synchronous`` is per connection. WAL needs a local filesystem, which
    SQLite needs anyway. The engine's connections are closed at the process's exit.
    """
    import sqlalchemy

    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA journal_mode=WAL")
    sqlalchemy.event.listen(engine, "connect", lambda dbapi, _: dbapi.execute("PRAGMA synchronous=NORMAL"))
    _SQLITE_ENGINES.add(engine)


def _begin_immediate(engine: Any) -> None:
    """Make every SQLite transaction take the write lock when it begins.

    Python's sqlite3 starts a transaction only at the first write, so two workers can both
    read a trial as WAITING and both claim it (Optuna's ``FOR UPDATE`` is a no-op on
    SQLite). ``BEGIN IMMEDIATE`` serialises claims as PostgreSQL's row lock does.
    """
    import sqlalchemy

    sqlalchemy.event.listen(engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN IMMEDIATE"))


def refuse_missing(url: str, what: str) -> None:
    """Refuse a local store (a SQLite or journal file) that does not exist, which opening it
    would create empty (a command that only reads then blamed what it looked for in it);
    ``what`` names the store (``STORE_NAMES``).

    Raises:
        UserError: the file does not exist, naming it.
    """
    local = _local_file(url)
    if local is not None and not local.is_file():
        raise UserError(f"no {what} at {redact(url)!r} (the file {str(local)!r} does not exist)")


def open_storage(url: str | None, *, create: bool = True, read_only: bool = False) -> optuna.storages.BaseStorage:
    """An Optuna storage with heartbeats, so trials of dead workers are failed and retried.

    ``url`` is any SQLAlchemy URL (default: SQLite in ``mlruns/``) or a journal file path
    ending in ``.log``/``.jsonl`` (no heartbeats there: a dead worker's trial stays RUNNING).
    ``create=False`` refuses a local store (SQLite or journal file) that does not exist
    instead of creating it; ``read_only`` opens a SQLite store without writing to it, so
    ``automl status`` works on a read-only copy.

    Raises:
        UserError: the URL is not understood, its database driver is missing, the store
            does not exist (``create=False``) or the server cannot be reached.
    """
    import optuna

    url = normalize_url(url or default_storage())
    local = _local_file(url)
    if not (create and not read_only):
        refuse_missing(url, STORE_NAMES["optuna"])
    if _is_journal(url):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        ensure_sqlite_folder(url)
        return JournalStorage(JournalFileBackend(url))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if read_only and local is not None and url.startswith("sqlite"):
        _refuse_foreign_sqlite(local, url)
        if local.stat().st_size == 0:  # as a first start interrupted before its tables leaves it
            raise UserError(f"the storage {redact(url)!r} is an empty file, with no study: delete it")
        # An SQLite URI, where '#' and '?' in the path must be percent-encoded; SQLAlchemy
        # decodes the URL once before SQLite reads it, so they are encoded twice.
        path = quote(quote(str(local.resolve()), safe="/"), safe="/")
        storage = _rdb_storage(f"sqlite:///file:{path}?mode=ro&uri=true", url, read_only=True)
        _SQLITE_ENGINES.add(storage.engine)
        _READ_ONLY_FILES.add(local.resolve())
        return storage
    with store_lock(ensure_sqlite_folder(url)):  # two processes must not both create the tables
        if local is not None and url.startswith("sqlite"):  # under the lock: not a store half made
            _refuse_foreign_sqlite(local, url)
        storage = _rdb_storage(url, url, read_only=False)
    if url.startswith("sqlite"):
        _use_wal(storage.engine)
        _begin_immediate(storage.engine)
    return storage


# Tables of an Optuna store: a file holding tables but none of these is not one (a store
# whose tables another process is creating holds some of them).
_OPTUNA_TABLES = frozenset({"studies", "trials", "version_info"})


def _refuse_foreign_sqlite(path: Path, url: str) -> None:
    """Refuse a SQLite file that holds tables, but not Optuna's (MLflow's ``mlflow.db``, which
    sits beside ``optuna.db``), or that is no database: Optuna wrote its tables into it, then
    failed with a traceback. An empty file is a store not yet made."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    try:
        with contextlib.closing(sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise UserError(f"the storage {redact(url)!r} is not an SQLite database ({exc})") from None
    if tables and not _OPTUNA_TABLES & tables:
        what = (
            "MLflow's tracking store (a --tracking-uri)"
            if {"experiments", "runs"} <= tables
            else f"a database of other tables ({', '.join(sorted(tables)[:4])}{', ...' * (len(tables) > 4)})"
        )
        raise UserError(
            f"the storage {redact(url)!r} is not an Optuna store but {what}; give the study's Optuna store "
            f"(default {redact(default_storage())})"
        )


def _rdb_storage(url: str, shown: str, *, read_only: bool) -> optuna.storages.RDBStorage:
    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    settings = runtime_settings()
    with _storage_errors(shown), warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return RDBStorage(
            url,
            engine_kwargs=_engine_kwargs(url),
            heartbeat_interval=settings.heartbeat_interval_s,
            grace_period=settings.grace_period_s,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY),
            skip_table_creation=read_only,
        )


def connection_headroom(url: str) -> int | None:
    """How many more client connections the PostgreSQL server of ``url`` accepts (None: not PostgreSQL).

    Raises:
        UserError: the server cannot be reached or refuses the login (one line, its password masked).
    """
    if not url.startswith("postgres"):
        return None
    query = (
        "SELECT current_setting('max_connections')::int"
        " - current_setting('superuser_reserved_connections')::int"
        " - coalesce(current_setting('reserved_connections', true), '0')::int"
        " - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
    )
    with _connection(url, "storage") as connection:
        return int(connection.exec_driver_sql(query).scalar_one())


def check_reachable(url: str, what: str) -> None:
    """Connect once to the database server of ``url``, which ``what`` names (``STORE_NAMES``):
    a wrong password, host or port fails now, in one line, not after minutes of a library's
    retries (MLflow's server retries its first connection for minutes, saying nothing on
    the console). SQLite files and other stores are not checked.

    Raises:
        UserError: the server cannot be reached or refuses the login (its password masked).
    """
    if sqlite_file(url) is None and "://" in url and not url.startswith(("http://", "https://", "file:")):
        with _connection(url, what):
            pass


@contextlib.contextmanager
def _connection(url: str, what: str) -> Iterator[Any]:
    """One SQLAlchemy connection to ``url``'s database, closed after; its errors are ``_storage_errors``."""
    import sqlalchemy

    with _storage_errors(url, what):
        engine = sqlalchemy.create_engine(normalize_url(url), poolclass=sqlalchemy.pool.NullPool)
        try:
            with engine.connect() as connection:
                yield connection
        finally:
            engine.dispose()


def check_connection_budget(url: str | None, processes: int) -> None:
    """Refuse to start ``processes`` processes that would exhaust the database server's connections.

    Raises:
        UserError: ``processes x CONNECTIONS_PER_PROCESS`` exceeds the server's headroom.
    """
    if url is None:
        return
    headroom = connection_headroom(url)
    needed = processes * CONNECTIONS_PER_PROCESS
    if headroom is not None and needed > headroom:
        raise UserError(
            f"{processes} processes need up to {needed} connections ({CONNECTIONS_PER_PROCESS} each) to "
            f"{redact(url)!r}, but the server accepts only {headroom} more; raise its max_connections "
            "or start fewer workers"
        )
