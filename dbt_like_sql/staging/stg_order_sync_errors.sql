-- Every problem found with an order, with the UTC days it was opened and resolved. FILTERED is left out: an order
-- filtered by the import rules (unpaid, FBA, ...) is skipped with its reason, not an error.
SELECT
    channel,
    external_order_id,
    stage,
    error_code,
    field,
    partition_date,
    first_seen_at,
    resolved_at,
    CAST(first_seen_at AS DATE) AS opened_day,
    CAST(resolved_at AS DATE) AS resolved_day
FROM {{ source('sync', 'order_sync_errors') }}
WHERE error_code <> 'FILTERED'
