"""Normalized orders -> the warehouse: SKU and ship-method maps, address rules, exactly-once submission."""
