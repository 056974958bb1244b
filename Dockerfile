# The product image: the worker (the default command), the HTTP API (`python -m starter serve`)
# and the codec server (`python -m starter codec-server`), as docker-compose.yml runs them.
#
# Small on purpose: Python's slim image; the package with its runtime dependencies only (no dev
# extras, no embedded Temporal server: the cluster has its own); every dependency ships a wheel,
# so no compiler; no source tree in the final filesystem, only the configuration the worker
# reads (the COPY layer still holds the build context: .dockerignore is an allowlist of what
# the install needs, so nothing else left in the checkout ships); no pip cache. It runs as an
# unprivileged user.
FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A checkout made under a strict umask (027, 077) holds files only its owner reads: the copy keeps
# their modes, so the configuration copied below is made readable to the image's user.
COPY . /src
# The versions CI tested: requirements.lock's pins (without its hashes, which would make pip
# want a hash for the project's own directory too) constrain the runtime dependencies, so an
# image built next month gets the same SDK as one built today.
RUN sed -n 's/^\([A-Za-z0-9._-]*==[^ ]*\).*/\1/p' /src/requirements.lock > /tmp/constraints.txt \
    && pip install --constraint /tmp/constraints.txt /src \
    && rm /tmp/constraints.txt \
    && mkdir -p /app \
    && cp -r /src/config /app/config \
    && chmod -R a+rX /app/config \
    && rm -rf /src \
    && useradd --system --uid 10001 --user-group --create-home --home-dir /home/tickets tickets

# Nothing a worker writes to its own disk is needed by another (docs/stores.md): with
# TICKETS_DATABASE_URL set, the data directory only holds what a single process may cache.
ENV TICKETS_DATA_DIR=/home/tickets/data
WORKDIR /app
USER tickets

# 9464: a worker's or the API's metrics (TICKETS_METRICS_ADDRESS); 8480: the HTTP API; 8081: the codec server.
EXPOSE 9464 8480 8081
CMD ["python", "-m", "worker"]
