#!/bin/sh
# The namespace and the ticket search attributes, run by the `temporal-namespace` job of
# docker-compose.yml with the temporalio/admin-tools image once the server answers. Workers
# register the search attributes too (shared/search_attribute_setup.py), but a deployment should
# not depend on a worker's permissions to change the namespace: this job makes it explicit.
# Idempotent: an existing namespace gets the retention set here, an attribute of the right type
# is left as it is.
set -eu

: "${TEMPORAL_ADDRESS:?}" "${NAMESPACE:?}" "${RETENTION:?}"

# Runs the command given until it succeeds, every 2 s for up to 2 minutes; then says $1 failed.
retry() {
    what=$1
    shift
    attempt=0
    until "$@"; do
        attempt=$((attempt + 1))
        if [ "$attempt" -ge 60 ]; then
            echo "$what within 2 minutes" >&2
            exit 1
        fi
        sleep 2
    done
}

echo "waiting for the Temporal server at $TEMPORAL_ADDRESS"
healthy() { temporal operator cluster health --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; }
retry "the Temporal server did not become healthy" healthy

if temporal operator namespace describe --address "$TEMPORAL_ADDRESS" -n "$NAMESPACE" >/dev/null 2>&1; then
    # The retention follows the setting on an existing namespace too: a change to
    # TEMPORAL_NAMESPACE_RETENTION was ignored after the first start (gc-payloads relies on it).
    temporal operator namespace update --address "$TEMPORAL_ADDRESS" -n "$NAMESPACE" \
        --retention "$RETENTION"
    echo "namespace $NAMESPACE exists; retention $RETENTION"
else
    temporal operator namespace create --address "$TEMPORAL_ADDRESS" -n "$NAMESPACE" \
        --retention "$RETENTION"
fi

# The ticket search attributes: shared/search_attributes.py (tests/deploy checks the two agree).
# name:type, one per line.
ATTRIBUTES="
TicketState:Keyword
TicketCategory:Keyword
TicketPriority:Keyword
TicketSlaDeadline:Datetime
TicketEscalated:Bool
TicketReviewReasons:KeywordList
TicketStateSince:Datetime
"
# A namespace just created is not found by every service until their namespace caches refresh
# (seconds): its search attributes cannot be listed or made before then.
listed() {
    existing=$(temporal operator search-attribute list --address "$TEMPORAL_ADDRESS" \
        -n "$NAMESPACE" 2>/dev/null)
}
retry "namespace $NAMESPACE was not usable" listed
for pair in $ATTRIBUTES; do
    name=${pair%%:*}
    type=${pair##*:}
    if echo "$existing" | grep -Eq "^[[:space:]]*$name[[:space:]]+$type[[:space:]]*$"; then
        echo "search attribute $name ($type) exists"
        continue
    fi
    temporal operator search-attribute create --address "$TEMPORAL_ADDRESS" -n "$NAMESPACE" \
        --name "$name" --type "$type"
done
echo "namespace $NAMESPACE is ready"
