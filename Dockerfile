# One image for the three services of compose.yaml: the code location served over gRPC (the default command), the
# webserver and the daemon, each started with another command from the same venv. Dependencies are installed from
# requirements.lock (pinned with hashes, generated from pyproject.toml; see its header), the project itself on top.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    DAGSTER_HOME=/opt/dagster/home

RUN python -m venv /opt/venv \
    && useradd --system --create-home --home-dir /home/sync sync

WORKDIR /opt/sync-pipeline
COPY requirements.lock ./
RUN pip install --no-deps --require-hashes -r requirements.lock

# Editable, so the package finds data/ and dbt_like_sql/ beside it (config.PROJECT_ROOT), as in a checkout.
COPY pyproject.toml README.md ./
COPY sync_pipeline ./sync_pipeline
COPY data ./data
COPY dbt_like_sql ./dbt_like_sql
COPY deploy ./deploy
RUN pip install --no-deps -e . \
    && mkdir -p "$DAGSTER_HOME/storage" var \
    && cp deploy/postgres/dagster.yaml "$DAGSTER_HOME/dagster.yaml" \
    && chown -R sync "$DAGSTER_HOME" var

USER sync
EXPOSE 3000 4000
CMD ["dagster", "api", "grpc", "--module-name", "sync_pipeline.definitions", "--host", "0.0.0.0", "--port", "4000"]
