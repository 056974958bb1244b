#!/bin/sh
# The postgresql and grafana services' entrypoint (docker-compose.yml): refuses to start while a
# password it is given still holds the placeholder marker of .env.example, then runs the image's
# own entrypoint with its arguments (`docker-entrypoint.sh postgres`, `/run.sh`).
#
# Why at the entrypoint: PostgreSQL's image sets the superuser's password from POSTGRES_PASSWORD
# when it initialises an empty volume, before any script of /docker-entrypoint-initdb.d runs, and
# never again (an init script that fails leaves that volume initialised anyway, and the next
# start skips initialisation); Grafana sets its admin's from GF_SECURITY_ADMIN_PASSWORD when it
# creates its database. Either way the placeholder, published in .env.example, would stay the
# password. Checked on every start, before anything is written.
set -eu

MARKER=REPLACE

refused=0
# Every variable whose name holds PASSWORD (POSTGRES_PASSWORD, TICKETS_DB_PASSWORD, ...). The
# names come from `env`, restricted to shell names, so the indirection below is safe.
for name in $(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*PASSWORD[A-Za-z0-9_]*\)=.*/\1/p'); do
    eval "value=\${$name:-}"
    case $value in
        *"$MARKER"*)
            echo "refusing to start: $name still holds the placeholder from .env.example" \
                "($MARKER...): set a real password in .env (docs/deploy.md, \"Passwords\")" >&2
            refused=1
            ;;
    esac
done
# TICKETS_DB_PASSWORD goes into a URL as it is (docker-compose.yml's TICKETS_DATABASE_URL), and
# the workers' driver (libpq) cannot read one holding '/', '@', '%' or white space there: a
# wrong host or port, while the role was created with the password as it is and Temporal
# (given it apart) worked. Other punctuation reads back whole, so it is left alone (a volume
# made with such a password keeps working).
case ${TICKETS_DB_PASSWORD:-} in
    *[/@%[:space:]]*)
        echo "refusing to start: TICKETS_DB_PASSWORD holds a character a database URL cannot" \
            "carry as it is ('/', '@', '%' or white space): change it (e.g. \`openssl rand" \
            "-hex 24\`; docs/deploy.md, \"Passwords\")" >&2
        refused=1
        ;;
esac
if [ "$refused" -ne 0 ]; then
    exit 1
fi
exec "$@"
