-- One row per channel order landed, with what became of it: normalized or not, its state at the 3PL, and how
-- long it took from placement to acceptance there.
WITH landed AS (
    SELECT
        channel,
        external_order_id,
        MIN(partition_date) AS placed_day,
        MIN(placed_at) AS placed_at,
        MIN(fetched_at) AS first_landed_at,
        COUNT(*) AS payload_versions
    FROM {{ source('sync', 'raw_orders') }}
    GROUP BY channel, external_order_id
)

SELECT
    landed.channel || ':' || landed.external_order_id AS order_id,
    landed.channel,
    landed.external_order_id,
    landed.placed_day,
    COALESCE(normalized.placed_at, landed.placed_at) AS placed_at,
    landed.first_landed_at,
    landed.payload_versions,
    CASE WHEN normalized.order_id IS NOT NULL THEN 1 ELSE 0 END AS is_normalized,
    CASE WHEN filtered.external_order_id IS NOT NULL THEN 1 ELSE 0 END AS is_filtered,
    fulfilment.status AS fulfilment_status,
    -- Meant for the 3PL by this pipeline: normalized, not keyed in by hand (MANUAL), not cancelled before it went.
    CASE
        WHEN fulfilment.status IS NULL OR fulfilment.status = 'MANUAL' THEN 0
        WHEN fulfilment.status = 'CANCELLED' AND fulfilment.accepted_at IS NULL THEN 0
        ELSE 1
    END AS is_valid,
    CASE WHEN fulfilment.accepted_at IS NOT NULL THEN 1 ELSE 0 END AS is_accepted,
    fulfilment.accepted_at,
    EXTRACT(EPOCH FROM fulfilment.accepted_at)
        - EXTRACT(EPOCH FROM COALESCE(normalized.placed_at, landed.placed_at)) AS placed_to_accepted_s
FROM landed
LEFT JOIN {{ source('sync', 'orders') }} AS normalized
    ON normalized.order_id = landed.channel || ':' || landed.external_order_id
LEFT JOIN {{ source('sync', 'fulfilment_orders') }} AS fulfilment
    ON fulfilment.order_id = landed.channel || ':' || landed.external_order_id
LEFT JOIN (
    SELECT DISTINCT channel, external_order_id
    FROM {{ source('sync', 'order_sync_errors') }}
    WHERE error_code = 'FILTERED' AND resolved_at IS NULL
) AS filtered
    ON filtered.channel = landed.channel AND filtered.external_order_id = landed.external_order_id
