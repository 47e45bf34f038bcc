-- Every attempt of a flow for a channel, with its UTC day and how long it ran.
SELECT
    channel,
    flow,
    run_id,
    started_at,
    finished_at,
    CAST(started_at AS DATE) AS attempt_day,
    EXTRACT(EPOCH FROM finished_at) - EXTRACT(EPOCH FROM started_at) AS duration_s,
    outcome,
    error_code,
    error
FROM {{ source('sync', 'sync_attempts') }}
