"""The embedded default (one SQLite file for web, worker and beat) takes concurrent writers without
"database is locked": WAL, a busy timeout and transactions that take the write lock when they begin.

The database settings are those settings.py gives a fresh process without DATABASE_URL (as `make run` starts
web, worker and beat), whatever database the suite itself runs on; the writers are threads, each with its
own connection to the file.
"""

import json
import os
import subprocess
import sys
import threading

from django.conf import settings
from django.db import connections, transaction
from django.db.utils import load_backend

WRITERS = 4
INCREMENTS = 50

PRINT_DATABASE = (
    "import json, django; django.setup(); from django.db import connections; "
    "print(json.dumps(connections['default'].settings_dict, default=str))"
)


def _embedded_database(tmp_path) -> dict:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tourbrain_support.settings", "DATA_DIR": str(tmp_path)}
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "CELERY_RESULT_BACKEND", "SENTRY_DSN"):
        env.pop(name, None)
    done = subprocess.run(  # noqa: S603 - fixed command line
        [sys.executable, "-c", PRINT_DATABASE],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _connect(settings_dict: dict, alias: str):
    # Registered in this thread only (the connection handler is thread-local), so transaction.atomic(using=...)
    # runs on it exactly as it would on "default" in a process started by make run.
    connection = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(dict(settings_dict), alias)
    connections[alias] = connection
    return connection


def test_concurrent_writers_on_the_embedded_sqlite_file_all_commit(tmp_path, django_db_blocker):
    database = _embedded_database(tmp_path)
    assert database["ENGINE"] == "django.db.backends.sqlite3"
    failures: list[BaseException] = []
    start = threading.Barrier(WRITERS)

    def write(index: int) -> None:
        # Each writer reads the counter and then writes it back inside transaction.atomic(), the shape of
        # update_or_create (the worker heartbeat) and of most services: a read that a write follows.
        alias = f"embedded_writer_{index}"
        connection = _connect(database, alias)
        try:
            start.wait(timeout=30)
            for _ in range(INCREMENTS):
                with transaction.atomic(using=alias), connection.cursor() as cursor:
                    cursor.execute("SELECT n FROM counter WHERE id = 1")
                    (n,) = cursor.fetchone()
                    cursor.execute("UPDATE counter SET n = %s WHERE id = 1", [n + 1])
        except BaseException as exc:
            failures.append(exc)
            start.abort()
        finally:
            connection.close()
            del connections[alias]

    with django_db_blocker.unblock():
        # given the embedded database file, in WAL mode, with a counter
        setup = _connect(database, "embedded_setup")
        try:
            with setup.cursor() as cursor:
                cursor.execute("PRAGMA journal_mode")
                assert cursor.fetchone()[0] == "wal"
                cursor.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
                cursor.execute("INSERT INTO counter (id, n) VALUES (1, 0)")

            # when several writers read and then write it in transactions, all released at the same moment
            threads = [threading.Thread(target=write, args=(index,)) for index in range(WRITERS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)

            # then none of them met "database is locked", and no increment was lost
            assert [str(failure) for failure in failures] == []
            with setup.cursor() as cursor:
                cursor.execute("SELECT n FROM counter WHERE id = 1")
                assert cursor.fetchone()[0] == WRITERS * INCREMENTS
        finally:
            setup.close()
            del connections["embedded_setup"]
