# syntax=docker/dockerfile:1
# Build: docker build -t hrc-digest .
# Run:   docker run -p 8000:8000 hrc-digest            (SQLite in the container's /app/data)
#        docker compose up                              (with PostgreSQL, see docker-compose.yml)

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Exactly the locked runtime versions, hash-checked (no dev tools); this layer changes only with
# the lock. Then the project itself (seed_data/ and migrations/ ship inside it: setup.py),
# whose dependencies are all already there.
COPY requirements/runtime.lock ./requirements/
RUN python -m venv /venv && /venv/bin/pip install --require-hashes -r requirements/runtime.lock
COPY pyproject.toml setup.py README.md ./
COPY app ./app
COPY migrations ./migrations
COPY seed_data ./seed_data
RUN /venv/bin/pip install --no-deps .

FROM python:3.11-slim AS runtime
ENV PATH=/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    HRC_DIGEST_SEED_DIR=/app/seed_data
RUN groupadd --system app && useradd --system --gid app --home-dir /app app
WORKDIR /app
COPY --from=build /venv /venv
COPY --chown=app:app app ./app
COPY --chown=app:app migrations ./migrations
COPY --chown=app:app seed_data ./seed_data
COPY --chown=app:app alembic.ini ./
RUN mkdir -p /app/data && chown app:app /app/data
USER app
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request, sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"]
# serve migrates, loads reference data and seeds an empty database before uvicorn starts.
CMD ["hrc-digest", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
