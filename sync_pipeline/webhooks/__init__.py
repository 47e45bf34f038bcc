"""Order webhooks in: the receiver (`sync-pipeline webhooks`), its durable inbox, and the sensor that turns
deliveries into order_sync runs for exactly the partitions they touch."""
