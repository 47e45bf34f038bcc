"""The 3PL warehouse: its order API client, shared by every flow, and its Dagster resource."""
