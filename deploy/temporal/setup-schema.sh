#!/bin/sh
# The Temporal server's schema, run by the `temporal-schema` job of docker-compose.yml with the
# temporalio/admin-tools image, as Temporal's own compose files do (temporalio/samples-server,
# compose/scripts/setup-postgres.sh): create each database, set its schema up at version 0, then
# apply every versioned update. Each step is idempotent (the retired auto-setup image ran them on
# every start), so the job runs on every `docker compose up` and upgrades the schema after the
# server image's version is raised.
set -eu

: "${POSTGRES_SEEDS:?}" "${DB_PORT:?}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"
SCHEMA_DIR=/etc/temporal/schema/postgresql/v12

echo "waiting for PostgreSQL on $POSTGRES_SEEDS:$DB_PORT"
nc -z -w 10 "$POSTGRES_SEEDS" "$DB_PORT"

for pair in "${DBNAME:-temporal}:temporal" "${VISIBILITY_DBNAME:-temporal_visibility}:visibility"; do
    database=${pair%%:*}
    schema=${pair##*:}
    tool="temporal-sql-tool --plugin postgres12 --ep $POSTGRES_SEEDS -p $DB_PORT -u $POSTGRES_USER"
    $tool --db "$database" create
    $tool --db "$database" setup-schema -v 0.0
    $tool --db "$database" update-schema -d "$SCHEMA_DIR/$schema/versioned"
done
echo "Temporal schema is up to date"
