"""A loopback HTTP server that plays real sales-channel APIs (Shopify, WooCommerce, Amazon SP-API v0,
Takealot seller API v2) from a scenario, so the pipeline can be run and tested with no internet.
See README.md in this folder for the scenario format and the HTTP contract."""

from sync_pipeline.simulator.orders import SimOrderRecord
from sync_pipeline.simulator.scenario import Scenario, ScenarioError, default_scenario, load_scenario
from sync_pipeline.simulator.server import Simulator, serve

__all__ = ["Scenario", "ScenarioError", "SimOrderRecord", "Simulator", "default_scenario", "load_scenario", "serve"]
