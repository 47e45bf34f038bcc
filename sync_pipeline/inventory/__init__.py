"""The inventory flow: the warehouse's free Good stock on every channel that syncs inventory."""
