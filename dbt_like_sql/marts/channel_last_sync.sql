-- Per channel and flow: the last successful sync, the last attempt and how it ended, and the attempts so far.
WITH attempts AS (
    SELECT
        *,
        ROW_NUMBER() OVER (PARTITION BY channel, flow ORDER BY finished_at DESC) AS recency
    FROM {{ ref('stg_sync_attempts') }}
),

summary AS (
    SELECT
        channel,
        flow,
        MAX(CASE WHEN outcome = 'SUCCESS' THEN finished_at END) AS last_success_at,
        MAX(finished_at) AS last_attempt_at,
        COUNT(*) AS attempts,
        SUM(CASE WHEN outcome = 'FAILED' THEN 1 ELSE 0 END) AS failed_attempts
    FROM attempts
    GROUP BY channel, flow
)

SELECT
    summary.channel,
    summary.flow,
    summary.last_success_at,
    summary.last_attempt_at,
    latest.outcome AS last_outcome,
    latest.error_code AS last_error_code,
    latest.error AS last_error,
    summary.attempts,
    summary.failed_attempts
FROM summary
JOIN attempts AS latest
    ON latest.channel = summary.channel AND latest.flow = summary.flow AND latest.recency = 1
