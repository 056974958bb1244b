#!/bin/sh
# Run once by the postgres image when it initialises an empty data volume
# (/docker-entrypoint-initdb.d): the product's own database and role, apart from Temporal's. The
# workers, the API and the codec server connect as this role (TICKETS_DATABASE_URL) and create
# their tables themselves (shared/stores/migrations.py); they never see Temporal's databases.
set -eu
: "${TICKETS_DB_PASSWORD:?set TICKETS_DB_PASSWORD}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    --set=password="$TICKETS_DB_PASSWORD" <<'SQL'
CREATE ROLE tickets LOGIN PASSWORD :'password';
CREATE DATABASE tickets OWNER tickets;
REVOKE ALL ON DATABASE tickets FROM PUBLIC;
SQL
