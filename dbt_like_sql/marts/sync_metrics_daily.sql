-- Per channel and UTC day of placement: the orders the channel counted and landed here; of those meant for the 3PL
-- (valid), the ones it accepted and how fast (an order accepted there but not valid, such as one keyed in by hand as
-- MANUAL, counts in neither, so the success rate never exceeds 1); and how much of their tracking reached the
-- channel; with that day's API usage and the listings whose last decision, made that day, left them out of sync.
-- Percentiles are nearest-rank (Postgres's PERCENTILE_DISC), written with window functions so SQLite computes the
-- same figure.
WITH orders AS (
    SELECT * FROM {{ ref('stg_orders') }}
),

order_counts AS (
    SELECT
        channel,
        placed_day AS day,
        COUNT(*) AS orders_landed,
        SUM(is_normalized) AS orders_normalized,
        SUM(is_filtered) AS orders_filtered,
        SUM(is_valid) AS orders_valid,
        SUM(CASE WHEN is_valid = 1 AND is_accepted = 1 THEN 1 ELSE 0 END) AS orders_accepted
    FROM orders
    GROUP BY channel, placed_day
),

acceptance_ranked AS (
    SELECT
        channel,
        placed_day,
        placed_to_accepted_s,
        ROW_NUMBER() OVER (PARTITION BY channel, placed_day ORDER BY placed_to_accepted_s) AS position,
        COUNT(*) OVER (PARTITION BY channel, placed_day) AS n
    FROM orders
    WHERE is_valid = 1 AND placed_to_accepted_s IS NOT NULL
),

acceptance AS (
    SELECT
        channel,
        placed_day AS day,
        AVG(placed_to_accepted_s) AS avg_placement_to_accepted_s,
        MIN(CASE WHEN position * 100 >= 50 * n THEN placed_to_accepted_s END) AS p50_placement_to_accepted_s,
        MIN(CASE WHEN position * 100 >= 95 * n THEN placed_to_accepted_s END) AS p95_placement_to_accepted_s
    FROM acceptance_ranked
    GROUP BY channel, placed_day
),

-- Packages where tracking applies (Takealot's are NOT_APPLICABLE), by the day their order was placed.
packages AS (
    SELECT orders.channel, orders.placed_day, packages.order_id, packages.status, packages.shipment_to_tracking_s
    FROM {{ ref('stg_packages') }} AS packages
    JOIN orders ON orders.order_id = packages.order_id
    WHERE packages.status <> 'NOT_APPLICABLE'
),

shipped_orders AS (
    SELECT
        channel,
        placed_day,
        order_id,
        CASE WHEN COUNT(*) = SUM(CASE WHEN status = 'PUSHED' THEN 1 ELSE 0 END) THEN 1 ELSE 0 END AS has_tracking
    FROM packages
    GROUP BY channel, placed_day, order_id
),

tracking AS (
    SELECT channel, placed_day AS day, COUNT(*) AS orders_shipped, SUM(has_tracking) AS orders_with_tracking
    FROM shipped_orders
    GROUP BY channel, placed_day
),

tracking_ranked AS (
    SELECT
        channel,
        placed_day,
        shipment_to_tracking_s,
        ROW_NUMBER() OVER (PARTITION BY channel, placed_day ORDER BY shipment_to_tracking_s) AS position,
        COUNT(*) OVER (PARTITION BY channel, placed_day) AS n
    FROM packages
    WHERE shipment_to_tracking_s IS NOT NULL
),

tracking_delay AS (
    SELECT
        channel,
        placed_day AS day,
        MIN(CASE WHEN position * 100 >= 95 * n THEN shipment_to_tracking_s END) AS p95_shipment_to_tracking_s
    FROM tracking_ranked
    GROUP BY channel, placed_day
),

api AS (
    SELECT
        channel,
        call_day AS day,
        COUNT(*) AS api_calls,
        SUM(CASE WHEN status_code = 429 THEN 1 ELSE 0 END) AS http_429
    FROM {{ ref('stg_api_calls') }}
    GROUP BY channel, call_day
),

listings AS (
    SELECT channel, decided_day AS day, SUM(is_out_of_sync) AS listings_out_of_sync
    FROM {{ ref('stg_listings') }}
    GROUP BY channel, decided_day
),

placed AS (
    SELECT channel, partition_date AS day, channel_count AS orders_placed
    FROM {{ source('sync', 'order_completeness') }}
),

-- The sales channels (the 3PL's own API calls are in stg_api_calls, not here), and every day something happened.
channels AS (
    SELECT channel FROM order_counts
    UNION SELECT channel FROM {{ ref('stg_sync_attempts') }}
    UNION SELECT channel FROM {{ ref('stg_listings') }}
),

days AS (
    SELECT channel, day FROM order_counts
    UNION SELECT channel, day FROM placed
    UNION SELECT channel, day FROM listings
    UNION SELECT channel, day FROM api WHERE channel IN (SELECT channel FROM channels)
)

SELECT
    days.channel,
    days.day,
    placed.orders_placed,
    COALESCE(order_counts.orders_landed, 0) AS orders_landed,
    COALESCE(order_counts.orders_normalized, 0) AS orders_normalized,
    COALESCE(order_counts.orders_filtered, 0) AS orders_filtered,
    COALESCE(order_counts.orders_valid, 0) AS orders_valid,
    COALESCE(order_counts.orders_accepted, 0) AS orders_accepted,
    CAST(order_counts.orders_accepted AS DOUBLE PRECISION) / NULLIF(order_counts.orders_valid, 0) AS sync_success_rate,
    CAST(acceptance.avg_placement_to_accepted_s AS DOUBLE PRECISION) AS avg_placement_to_accepted_s,
    CAST(acceptance.p50_placement_to_accepted_s AS DOUBLE PRECISION) AS p50_placement_to_accepted_s,
    CAST(acceptance.p95_placement_to_accepted_s AS DOUBLE PRECISION) AS p95_placement_to_accepted_s,
    COALESCE(tracking.orders_shipped, 0) AS orders_shipped,
    COALESCE(tracking.orders_with_tracking, 0) AS orders_with_tracking,
    CAST(tracking.orders_with_tracking AS DOUBLE PRECISION) / NULLIF(tracking.orders_shipped, 0) AS tracking_update_rate,
    CAST(tracking_delay.p95_shipment_to_tracking_s AS DOUBLE PRECISION) AS p95_shipment_to_tracking_s,
    COALESCE(listings.listings_out_of_sync, 0) AS listings_out_of_sync,
    COALESCE(api.api_calls, 0) AS api_calls,
    COALESCE(api.http_429, 0) AS http_429
FROM days
LEFT JOIN placed ON placed.channel = days.channel AND placed.day = days.day
LEFT JOIN order_counts ON order_counts.channel = days.channel AND order_counts.day = days.day
LEFT JOIN acceptance ON acceptance.channel = days.channel AND acceptance.day = days.day
LEFT JOIN tracking ON tracking.channel = days.channel AND tracking.day = days.day
LEFT JOIN tracking_delay ON tracking_delay.channel = days.channel AND tracking_delay.day = days.day
LEFT JOIN listings ON listings.channel = days.channel AND listings.day = days.day
LEFT JOIN api ON api.channel = days.channel AND api.day = days.day
