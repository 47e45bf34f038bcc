-- Each channel listing's stock as last decided: in sync when the channel shows what the warehouse's free stock
-- says it should, and the last decision was to write it or leave it.
SELECT
    channel,
    listing_id,
    sku,
    warehouse_sku,
    status,
    quantity,
    shown,
    CAST(updated_at AS DATE) AS decided_day,
    CASE
        WHEN status IN ('PUSHED', 'UNCHANGED') AND shown = quantity THEN 0
        ELSE 1
    END AS is_out_of_sync
FROM {{ source('sync', 'inventory_pushes') }}
