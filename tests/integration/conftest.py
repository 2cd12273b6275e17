"""Integration fixtures: PostgreSQL and Redis on 127.0.0.1 (required when
REQUIRE_SERVICES=1, as .ci/run sets), a fresh PostgreSQL database per use, and the
production layout of deploy/Procfile started once per session (tests/integration/cluster.py)."""
from __future__ import annotations

import os
import socket
import uuid

import pytest

PG = ("127.0.0.1", 5432)
REDIS = ("127.0.0.1", 6379)


def _reachable(host_port) -> bool:
    try:
        with socket.create_connection(host_port, timeout=1):
            return True
    except OSError:
        return False


def services_required() -> None:
    """Skip (or, with REQUIRE_SERVICES=1, fail) unless PostgreSQL and Redis are running."""
    if not (_reachable(PG) and _reachable(REDIS)):
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail("PostgreSQL and Redis must be running on 127.0.0.1 (REQUIRE_SERVICES=1).")
        pytest.skip("PostgreSQL and Redis are not running on 127.0.0.1")


def _admin_url() -> str:
    return os.environ.get("INTEGRATION_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")


def pg_create() -> str:
    """A new, empty database; returns its URL."""
    import psycopg

    name = f"auditplatform_it_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return _admin_url().rsplit("/", 1)[0] + "/" + name


def pg_drop(url: str) -> None:
    import psycopg

    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


@pytest.fixture
def services():
    services_required()


@pytest.fixture
def pg_database(services):
    url = pg_create()
    yield url
    pg_drop(url)


@pytest.fixture(scope="session")
def cluster(tiny_model_dir, tmp_path_factory):
    """deploy/Procfile's web, two workers and the reconciler on a fresh PostgreSQL database
    and a Redis of its own (never the shared one, which other tests use), with a user, a
    token, the tiny model and a mapped dataset uploaded through the API."""
    from tests.integration.cluster import Cluster

    services_required()
    url = pg_create()
    made = Cluster(folder=tmp_path_factory.mktemp("cluster"), database_url=url)
    try:
        made.start(model_dir=tiny_model_dir)
        yield made
    finally:
        made.stop()
        pg_drop(url)
