-- compose.yaml's Postgres, first start only: the sync database beside Dagster's own (POSTGRES_DB, "dagster").
CREATE DATABASE sync;
