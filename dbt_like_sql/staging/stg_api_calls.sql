-- Every HTTP request to a channel or the 3PL, with its UTC day.
SELECT
    channel,
    CAST(called_at AS DATE) AS call_day,
    called_at,
    method,
    endpoint,
    bucket,
    status_code,
    error,
    latency_ms,
    run_id
FROM {{ source('sync', 'api_calls') }}
