"""deploy/postgres's init script and the entrypoint wrapper (deploy/) refuse the placeholder
passwords of .env.example.

PostgreSQL's image sets the superuser's password (POSTGRES_PASSWORD) and runs the init script
that creates the product's role only when it initialises an empty volume: a placeholder copied
from .env.example would stay the password after .env is fixed. The scripts run here with `sh`
(dash, as in the image) and with fakes of what they call, found first on PATH.
"""

import os
import subprocess
from pathlib import Path

import pytest

from tests.deploy.test_compose import example_env
from tests.support.processes import PROJECT_ROOT

POSTGRES = PROJECT_ROOT / "deploy" / "postgres"
INIT_SCRIPT = POSTGRES / "create-tickets-database.sh"
ENTRYPOINT = PROJECT_ROOT / "deploy" / "refuse-placeholder-passwords.sh"
REAL = {
    "POSTGRES_ADMIN_PASSWORD": "77be01d3c4",
    "TEMPORAL_DB_PASSWORD": "3f9c0e2a7b",
    "TICKETS_DB_PASSWORD": "a81d44c9e0",
}


def fake_command(bin_dir: Path, name: str) -> Path:
    """A stand-in for `name` that records its arguments and its standard input."""
    record = bin_dir / f"{name}.called"
    fake = bin_dir / name
    fake.write_text(
        "#!/bin/sh\n"
        f"# A fake {name} for tests: records how it was called instead of doing anything.\n"
        f'printf "%s\\n" "$@" > "{record}"\n'
        f'cat >> "{record}"\n'
    )
    fake.chmod(0o755)
    return record


def run(script: Path, passwords: dict[str, str], bin_dir: Path) -> subprocess.CompletedProcess[str]:
    """The script as the postgres container runs it: POSTGRES_PASSWORD is .env's
    POSTGRES_ADMIN_PASSWORD, the superuser's (docker-compose.yml); the two roles' passwords are
    passed as they are."""
    env = {
        "PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin",
        "POSTGRES_USER": "postgres",
        "POSTGRES_PASSWORD": passwords["POSTGRES_ADMIN_PASSWORD"],
        "TEMPORAL_DB_PASSWORD": passwords["TEMPORAL_DB_PASSWORD"],
        "TICKETS_DB_PASSWORD": passwords["TICKETS_DB_PASSWORD"],
    }
    args = ["sh", str(script)]
    if script == ENTRYPOINT:
        args += ["docker-entrypoint.sh", "postgres"]
    return subprocess.run(
        args, env=env, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
    )


PLACEHOLDER_CASES = {
    "all": ["POSTGRES_ADMIN_PASSWORD", "TEMPORAL_DB_PASSWORD", "TICKETS_DB_PASSWORD"],
    "admin": ["POSTGRES_ADMIN_PASSWORD"],
    "temporal": ["TEMPORAL_DB_PASSWORD"],
    "tickets": ["TICKETS_DB_PASSWORD"],
}
REFUSED_NAMES = {
    "POSTGRES_ADMIN_PASSWORD": "POSTGRES_PASSWORD",
    "TEMPORAL_DB_PASSWORD": "TEMPORAL_DB_PASSWORD",
    "TICKETS_DB_PASSWORD": "TICKETS_DB_PASSWORD",
}


@pytest.mark.parametrize("script", [INIT_SCRIPT, ENTRYPOINT], ids=["init-script", "entrypoint"])
@pytest.mark.parametrize(
    "placeholders", list(PLACEHOLDER_CASES.values()), ids=list(PLACEHOLDER_CASES)
)
def test_a_placeholder_password_is_refused_before_anything_is_created(
    script: Path, placeholders: list[str], tmp_path: Path
) -> None:
    example = example_env()
    passwords = {**REAL, **{name: example[name] for name in placeholders}}
    assert all("REPLACE" in passwords[name] for name in placeholders)
    psql = fake_command(tmp_path, "psql")
    entrypoint = fake_command(tmp_path, "docker-entrypoint.sh")
    result = run(script, passwords, tmp_path)
    assert result.returncode != 0
    assert "placeholder" in result.stderr and ".env" in result.stderr, result.stderr
    assert REFUSED_NAMES[placeholders[0]] in result.stderr, result.stderr
    assert not psql.exists(), "the role was created with the placeholder"
    assert not entrypoint.exists(), "the image's entrypoint ran (and initialised the volume)"


def test_the_init_script_creates_the_role_with_a_real_password(tmp_path: Path) -> None:
    psql = fake_command(tmp_path, "psql")
    result = run(INIT_SCRIPT, REAL, tmp_path)
    assert result.returncode == 0, result.stderr
    called = psql.read_text()
    assert "--username\npostgres\n" in called
    # Read by psql from its environment, not passed as arguments (which `ps` shows every user
    # of the host): a review, 2026-12-07.
    assert "\\getenv password TICKETS_DB_PASSWORD\n" in called
    assert "\\getenv temporal_password TEMPORAL_DB_PASSWORD\n" in called
    assert not any(password in called for password in REAL.values())
    assert "CREATE ROLE tickets LOGIN PASSWORD :'password';" in called
    # Temporal's role creates its databases and is no superuser: as one it could read the
    # product's delivery ledger (the answers sent, in plain text).
    temporal = next(line for line in called.splitlines() if "CREATE ROLE temporal" in line)
    assert "NOSUPERUSER" in temporal and "CREATEDB" in temporal


def test_the_entrypoint_runs_the_images_own_with_real_passwords(tmp_path: Path) -> None:
    entrypoint = fake_command(tmp_path, "docker-entrypoint.sh")
    result = run(ENTRYPOINT, REAL, tmp_path)
    assert result.returncode == 0, result.stderr
    assert entrypoint.read_text() == "postgres\n"


@pytest.mark.parametrize("password", ["a/b+c==", "p@ss", "100%", "two words", "tab\tbed"])
def test_the_entrypoint_refuses_a_ledger_password_a_database_url_cannot_carry(
    tmp_path: Path, password: str
) -> None:
    """TICKETS_DB_PASSWORD goes into the workers' database URL as it is: one from `openssl
    rand -base64` (a '/' half the time) started PostgreSQL with the role made, and every worker
    then failed with a wrong host or port (a review, 2026-12-07)."""
    entrypoint = fake_command(tmp_path, "docker-entrypoint.sh")
    result = run(ENTRYPOINT, REAL | {"TICKETS_DB_PASSWORD": password}, tmp_path)
    assert result.returncode != 0
    assert "TICKETS_DB_PASSWORD holds a character a database URL cannot carry" in result.stderr
    assert password not in result.stderr  # the message never quotes it
    assert not entrypoint.exists()


def test_the_entrypoint_takes_a_ledger_password_with_punctuation_a_url_reads_whole(
    tmp_path: Path,
) -> None:
    """libpq reads '+', '=', '!', '*', ':', '?', '$', ',', ';' and '#' back from the URL as
    they are: a volume made with such a password keeps starting."""
    entrypoint = fake_command(tmp_path, "docker-entrypoint.sh")
    result = run(ENTRYPOINT, REAL | {"TICKETS_DB_PASSWORD": "a+b=c!d*e:f?g$h,i;j#k"}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert entrypoint.exists()


def test_the_entrypoint_refuses_grafanas_placeholder_and_runs_grafana_with_a_real_one(
    tmp_path: Path,
) -> None:
    """As the grafana service runs it: GF_SECURITY_ADMIN_PASSWORD is .env's
    GRAFANA_ADMIN_PASSWORD, the image's entrypoint is /run.sh."""
    grafana = fake_command(tmp_path, "run.sh")

    def start(password: str) -> subprocess.CompletedProcess[str]:
        path = f"{tmp_path}{os.pathsep}/usr/bin:/bin"
        env = {"PATH": path, "GF_SECURITY_ADMIN_PASSWORD": password}
        return subprocess.run(
            ["sh", str(ENTRYPOINT), "run.sh"], env=env, capture_output=True, text=True,
            timeout=30, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    refused = start(example_env()["GRAFANA_ADMIN_PASSWORD"])
    assert refused.returncode != 0
    assert "GF_SECURITY_ADMIN_PASSWORD still holds the placeholder" in refused.stderr
    assert not grafana.exists(), "Grafana started (and kept the placeholder as its password)"

    started = start("b7e1c93d04")
    assert started.returncode == 0, started.stderr
    assert grafana.exists()


def test_the_init_script_s_roles_on_a_real_server_keep_temporal_out_of_the_ledger() -> None:
    """The script run with the real psql against a new PostgreSQL: Temporal's role creates its
    databases and the extension its visibility schema needs, and cannot connect to the product's
    database (as the superuser it read the delivery ledger, answers in plain text)."""
    import psycopg

    from tests.support.postgres import SUPERUSER, PostgresServer

    server = PostgresServer()
    server.initdb()
    server.start()
    try:
        env = {
            "PATH": f"{server.bin}{os.pathsep}/usr/bin:/bin",
            "PGHOST": "127.0.0.1",
            "PGPORT": str(server.port),
            "PGPASSWORD": server.password,
            "POSTGRES_USER": SUPERUSER,
            "POSTGRES_PASSWORD": server.password,
            "TEMPORAL_DB_PASSWORD": REAL["TEMPORAL_DB_PASSWORD"],
            "TICKETS_DB_PASSWORD": REAL["TICKETS_DB_PASSWORD"],
        }
        result = subprocess.run(
            ["sh", str(INIT_SCRIPT)], env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        base = f"127.0.0.1:{server.port}"
        temporal = f"postgresql://temporal:{REAL['TEMPORAL_DB_PASSWORD']}@{base}"
        with psycopg.connect(f"{temporal}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE temporal_visibility")
        with psycopg.connect(f"{temporal}/temporal_visibility", autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
            row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = 'temporal'")
            assert row.fetchone() == (False,)
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            psycopg.connect(f"{temporal}/tickets").close()
        tickets = f"postgresql://tickets:{REAL['TICKETS_DB_PASSWORD']}@{base}/tickets"
        with psycopg.connect(tickets) as conn:
            conn.execute("CREATE TABLE deliveries (ticket_id text)")
    finally:
        server.cleanup()  # stopped and its folder removed (stop() alone left 54 MB per run)
