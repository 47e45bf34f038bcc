-- One row per package the 3PL shipped, with how long its tracking number took to reach the channel.
SELECT
    package_id,
    order_id,
    channel,
    partition_date AS shipped_day,
    shipped_at,
    status,
    pushed_at,
    CASE
        WHEN status = 'PUSHED' THEN EXTRACT(EPOCH FROM pushed_at) - EXTRACT(EPOCH FROM shipped_at)
    END AS shipment_to_tracking_s
FROM {{ source('sync', 'tracking_updates') }}
