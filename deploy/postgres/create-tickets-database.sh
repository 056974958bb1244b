#!/bin/sh
# Run once by the postgres image when it initialises an empty data volume
# (/docker-entrypoint-initdb.d), as the superuser: Temporal's role, and the product's own database
# and role, apart from Temporal's. Neither role is a superuser. Temporal's may create databases
# (its schema job creates `temporal` and `temporal_visibility`, which it then owns) and reaches
# no other: as the superuser it could read the product's delivery ledger, in plain text. The
# workers, the API and the codec server connect as `tickets` (TICKETS_DATABASE_URL); the workers
# create and migrate the tables (shared/stores/migrations.py), the API and the codec server wait
# for them (their /readyz says so); none of them sees Temporal's databases.
#
# A password still holding .env.example's placeholder marker is refused: it would become the
# role's password for good (this script never runs again on that volume). The service's entrypoint
# (refuse-placeholder-passwords.sh) refuses it earlier, before the volume is initialised; this
# check keeps the script safe where it runs without that entrypoint.
set -eu
: "${TEMPORAL_DB_PASSWORD:?set TEMPORAL_DB_PASSWORD}"
: "${TICKETS_DB_PASSWORD:?set TICKETS_DB_PASSWORD}"

MARKER=REPLACE
for name in POSTGRES_PASSWORD TEMPORAL_DB_PASSWORD TICKETS_DB_PASSWORD; do
    eval "value=\${$name:-}"
    case $value in
        *"$MARKER"*)
            echo "create-tickets-database: refusing: $name still holds the placeholder from" \
                ".env.example ($MARKER...): set a real password in .env (docs/deploy.md," \
                "\"Passwords\")" >&2
            exit 1
            ;;
    esac
done

# The passwords are read from the environment by psql itself (\getenv, psql 15 and later), not
# passed as arguments: a process's arguments are readable by every user of the host (ps).
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<'SQL'
\getenv temporal_password TEMPORAL_DB_PASSWORD
\getenv password TICKETS_DB_PASSWORD
CREATE ROLE temporal LOGIN CREATEDB NOSUPERUSER PASSWORD :'temporal_password';
CREATE ROLE tickets LOGIN PASSWORD :'password';
CREATE DATABASE tickets OWNER tickets ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE tickets FROM PUBLIC;
SQL
