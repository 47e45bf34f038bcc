"""The order flow: raw channel payloads -> normalized orders -> fulfilment orders."""
