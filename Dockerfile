# syntax=docker/dockerfile:1
#
# The MicroStax image: the control plane (web, worker, migrations) and the snapshot agent that the
# capture/restore Jobs run (settings.MICROSTAX_IMAGE names this image).
#
#   docker build -t registry.example.com/microstax:0.1.0 .
#
# Entrypoint: none; the command is the process to run, and every command below is on PATH:
#   daphne --bind 0.0.0.0 --port 8000 --proxy-headers microstax.asgi:application   (the default CMD: web)
#   django-admin qcluster                                                           (task worker)
#   django-admin migrate --no-input                                                 (migrations Job)
#   django-admin wait_for_migrations                                                (init container)
#   microstax snapshot-agent capture|restore …                                      (snapshot Jobs)
# DJANGO_SETTINGS_MODULE is set, so `django-admin` is this project's manage.py. Configuration comes
# from the environment (see README, "Deploying on a real cluster"); `manage.py render_deploy`
# renders manifests that run this image as a non-root user with a read-only root filesystem.

ARG PYTHON_VERSION=3.11

# -- build: the project's wheel and every dependency's wheel ------------------------------------
FROM python:${PYTHON_VERSION}-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY microstax ./microstax
COPY environments ./environments
COPY blueprints ./blueprints
COPY snapshots ./snapshots
COPY audit ./audit
COPY frontend ./frontend
RUN python -m pip wheel --no-cache-dir --wheel-dir /wheels .

# -- runtime ------------------------------------------------------------------------------------
FROM python:${PYTHON_VERSION}-slim AS runtime

# The snapshot agent runs pg_dump/pg_restore against environment databases, which run PostgreSQL
# up to 17 (blueprints use postgres:16): Debian's own client (15) refuses newer servers, so the
# client comes from the PostgreSQL project's repository (PGDG). A client dumps every older server.
ARG PG_MAJOR=17
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates curl; \
    install -d /usr/share/postgresql-common/pgdg; \
    curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc https://www.postgresql.org/media/keys/ACCC4CF8.asc; \
    . /etc/os-release; \
    echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt ${VERSION_CODENAME}-pgdg main" \
        > /etc/apt/sources.list.d/pgdg.list; \
    apt-get update; \
    apt-get install -y --no-install-recommends "postgresql-client-${PG_MAJOR}"; \
    apt-get purge -y --auto-remove curl; \
    rm -rf /var/lib/apt/lists/*; \
    pg_dump --version; pg_restore --version

# A fixed uid/gid: the manifests' runAsUser/fsGroup (10001) and runAsNonRoot check it.
RUN groupadd --system --gid 10001 microstax \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/microstax --no-create-home \
        --shell /usr/sbin/nologin microstax

COPY --from=build /wheels /tmp/wheels
RUN python -m pip install --no-cache-dir --no-index --find-links=/tmp/wheels microstax \
    && rm -rf /tmp/wheels \
    && microstax --help >/dev/null \
    && command -v daphne django-admin

ENV DJANGO_SETTINGS_MODULE=microstax.settings \
    MICROSTAX_VAR_DIR=/var/lib/microstax \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# The only writable place besides /tmp; in Kubernetes both are emptyDir volumes.
RUN install -d -o microstax -g microstax -m 0750 /var/lib/microstax
WORKDIR /var/lib/microstax
USER 10001:10001

EXPOSE 8000
CMD ["daphne", "--bind", "0.0.0.0", "--port", "8000", "--proxy-headers", "microstax.asgi:application"]
