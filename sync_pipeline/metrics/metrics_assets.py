"""The SQL models of `dbt_like_sql/` as Dagster assets: one asset per model, its dependencies read from its refs and
sources, built in one step in dependency order (as dagster-dbt builds a dbt project); each YAML test an asset
check; a job and a schedule that rebuild them all."""

import time
from pathlib import Path

import dagster as dg

from sync_pipeline.config import ASSET_OWNERS
from sync_pipeline.db.resource import DatabaseResource
from sync_pipeline.metrics.build import ModelBuildError, build_model, run_test
from sync_pipeline.metrics.models import ModelError, SqlProject, load_project

GROUP = "metrics"
SEVERITY = {"error": dg.AssetCheckSeverity.ERROR, "warn": dg.AssetCheckSeverity.WARN}  # a YAML test's config.severity
METRICS_INTERVAL_MINUTES = 15


def _spec(project: SqlProject, name: str) -> dg.AssetSpec:
    model = project.models[name]
    written_by = [key for source in model.sources for key in project.sources[source].written_by]
    return dg.AssetSpec(
        key=name,
        deps=[*model.refs, *dict.fromkeys(written_by)],
        group_name=GROUP,
        description=model.description or None,
        owners=ASSET_OWNERS,
        kinds={"sql"},
        tags={"layer": model.layer},
        metadata={
            "sql_file": str(model.path.relative_to(project.directory.parent)),
            "dagster/column_schema": dg.TableSchema(columns=[
                dg.TableColumn(column, description=description or None)
                for column, description in model.columns.items()]),
        },
    )


def build_metric_models(directory: Path) -> dg.AssetsDefinition:
    """The models' assets; when the folder cannot be read, one asset in their place that fails with every problem
    found, so the UI shows what to fix while every sync goes on."""
    try:
        project = load_project(directory)
    except ModelError as error:
        return _unreadable_models(directory, error)
    return _model_assets(project)


def _unreadable_models(directory: Path, error: ModelError) -> dg.AssetsDefinition:
    @dg.asset(name="sql_models", group_name=GROUP, owners=ASSET_OWNERS, kinds={"sql"},
              description=f"The SQL models of {directory}, which cannot be read: materialize to see why")
    def sql_models() -> None:
        raise dg.Failure(description=f"{len(error.problems)} problem(s) in {directory}; the metrics are not built "
                                     "until they are fixed:\n" + str(error))

    return sql_models


def _model_assets(project: SqlProject) -> dg.AssetsDefinition:
    specs = [_spec(project, name) for name in project.build_order()]
    check_specs = [
        dg.AssetCheckSpec(test.name, asset=test.model, description=test.description,
                          additional_deps=[test.arguments["to"]] if test.kind == "relationships" else None)
        for name in project.build_order() for test in project.models[name].tests
    ]

    @dg.multi_asset(specs=specs, check_specs=check_specs, can_subset=True, name="sql_models")
    def sql_models(context: dg.AssetExecutionContext, database: DatabaseResource):
        """Each selected model rebuilt as a table of the sync database, then its tests run; a model whose SQL fails
        is reported with its file, and the models built on it wait for the next run."""
        engine = database.engine()
        failed: dict[str, str] = {}
        for name in project.build_order():
            key = dg.AssetKey(name)
            if key not in context.selected_asset_keys:
                continue
            waiting_on = [other for other in project.models[name].refs if other in failed]
            if waiting_on:
                failed[name] = f"not built: it reads {', '.join(waiting_on)}, which failed"
                context.log.error(f"{name}: {failed[name]}")
                continue
            started = time.perf_counter()
            try:
                rows = build_model(engine, project, name)
            except ModelBuildError as error:
                failed[name] = str(error)
                context.log.error(str(error))
                continue
            yield dg.MaterializeResult(asset_key=key, metadata={
                "dagster/row_count": rows, "seconds": round(time.perf_counter() - started, 3),
                "dagster/table_name": name,
            })
            for test in project.models[name].tests:
                if dg.AssetCheckKey(key, test.name) not in context.selected_asset_check_keys:
                    continue
                outcome = run_test(engine, test)
                yield dg.AssetCheckResult(
                    asset_key=key, check_name=test.name, passed=outcome.failures == 0,
                    severity=SEVERITY[test.severity],
                    description=None if outcome.failures == 0 else
                    f"{outcome.failures} row(s) of {name} break {test.kind}: fix {project.models[name].path.name} "
                    "or the data it reads",
                    metadata={"failing_rows": outcome.failures,
                              **({"sample": dg.MetadataValue.json(outcome.sample)} if outcome.sample else {})},
                )
        if failed:
            raise dg.Failure(description=f"{len(failed)} SQL model(s) not built: " + "; ".join(
                f"{name}: {reason}" for name, reason in failed.items()))

    return sql_models


def build_metrics_job(models: dg.AssetsDefinition) -> dg.JobDefinition:
    return dg.define_asset_job("sync_metrics", selection=dg.AssetSelection.assets(models),
                               description="Rebuilds every SQL model of dbt_like_sql/ and runs its YAML tests")


def build_metrics_schedule(job: dg.JobDefinition) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="sync_metrics_every_15_minutes", job=job, cron_schedule=f"*/{METRICS_INTERVAL_MINUTES} * * * *",
        execution_timezone="UTC", default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Rebuilds the analysts' sync metrics (dbt_like_sql/ marts) from the sync tables, so they are at "
                    "most 15 minutes behind the syncs")
