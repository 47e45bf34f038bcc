"""A loopback HTTP server that plays real sales-channel APIs (Shopify, WooCommerce, Amazon SP-API v0,
Takealot seller API v2) from a scenario, plus the fulfilment warehouse (a 3PL's order API) the pipeline
sends orders to, so the pipeline can be run and tested with no internet.
See README.md in this folder for the scenario format and the HTTP contract, and warehouse.py for the
warehouse's API."""

from sync_pipeline.simulator.orders import SimOrderRecord
from sync_pipeline.simulator.scenario import Scenario, ScenarioError, default_scenario, load_scenario
from sync_pipeline.simulator.server import Simulator, serve
from sync_pipeline.simulator.warehouse import SHIP_METHODS, Warehouse

__all__ = [
    "SHIP_METHODS", "Scenario", "ScenarioError", "SimOrderRecord", "Simulator", "Warehouse", "default_scenario",
    "load_scenario", "serve",
]
