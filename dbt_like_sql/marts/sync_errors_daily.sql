-- Per channel, UTC day, stage and error code: the orders whose problem was opened that day, resolved that day, and
-- still open at the day's end; `is_new_code` marks the day a code first appeared for the channel. Every day from
-- the channel's first error to today has its row for each code with an order open or a change that day, so a trend
-- reads without gaps, quiet days included.
WITH RECURSIVE errors AS (
    SELECT * FROM {{ ref('stg_order_sync_errors') }}
),

-- Through today (UTC), or a later day an error carries (written by a clock ahead of the database's).
spans AS (
    SELECT
        channel,
        MIN(opened_day) AS first_day,
        GREATEST(
            MAX(COALESCE(resolved_day, opened_day)), CAST(CURRENT_TIMESTAMP AT TIME ZONE 'UTC' AS DATE)
        ) AS last_day
    FROM errors
    GROUP BY channel
),

days AS (
    SELECT channel, first_day AS day FROM spans
    UNION ALL
    SELECT days.channel, CAST(days.day + INTERVAL '1 day' AS DATE)
    FROM days
    JOIN spans ON spans.channel = days.channel
    WHERE days.day < spans.last_day
),

codes AS (
    SELECT channel, stage, error_code, MIN(opened_day) AS first_day
    FROM errors
    GROUP BY channel, stage, error_code
),

counted AS (
    SELECT
        days.channel,
        days.day,
        codes.stage,
        codes.error_code,
        CASE WHEN codes.first_day = days.day THEN 1 ELSE 0 END AS is_new_code,
        COUNT(DISTINCT CASE WHEN errors.opened_day = days.day THEN errors.external_order_id END) AS opened,
        COUNT(DISTINCT CASE WHEN errors.resolved_day = days.day THEN errors.external_order_id END) AS resolved,
        COUNT(DISTINCT CASE
            WHEN errors.resolved_day IS NULL OR errors.resolved_day > days.day THEN errors.external_order_id
        END) AS open_at_end_of_day
    FROM days
    JOIN codes ON codes.channel = days.channel AND codes.first_day <= days.day
    JOIN errors
        ON errors.channel = codes.channel
        AND errors.stage = codes.stage
        AND errors.error_code = codes.error_code
        AND errors.opened_day <= days.day
        AND (errors.resolved_day IS NULL OR errors.resolved_day >= days.day)  -- else nothing to count
    GROUP BY days.channel, days.day, codes.stage, codes.error_code, codes.first_day
)

SELECT channel, day, stage, error_code, opened, resolved, open_at_end_of_day, is_new_code
FROM counted
WHERE opened > 0 OR resolved > 0 OR open_at_end_of_day > 0
