"""No credential value ever reaches logs, metadata, tables or error messages: neither the configured secrets of
the six platforms and the warehouse, nor the OAuth access tokens Amazon and eBay hand out at run time."""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial

import pytest
import sqlalchemy as sa

from sync_pipeline.channels import resource as channels_resource
from sync_pipeline.cli import main
from sync_pipeline.db.engine import get_engine
from sync_pipeline.db.tables import api_calls, metadata, raw_orders, tracking_updates
from sync_pipeline.simulator.platforms.base import ApiResponse
from sync_pipeline.warehouse import resource as warehouse_resource
from sync_pipeline_tests.conftest import TODAY, scenario

# Every platform; a channel of each OAuth platform whose API quotes the access token back in an error (some
# real APIs do), and a Shopify one quoting its configured token; two whose credentials are refused: one on its
# API, one at its OAuth token endpoint.
HEALTHY = [
    ("shop", "shopify", 6), ("woo", "woocommerce", 6), ("amzn", "amazon", 6),
    ("tkl", "takealot", 6), ("bc", "bigcommerce", 6), ("ebay", "ebay", 6),
]
ECHOING = [("amzn-echo", "amazon", 3), ("ebay-echo", "ebay", 3), ("shop-echo", "shopify", 3)]
REFUSED = [("woo-bad", "woocommerce", 3), ("ebay-bad", "ebay", 3)]
CHANNELS = HEALTHY + ECHOING + REFUSED
OAUTH_HEADERS = {"amazon": "x-amz-access-token", "ebay": "Authorization"}
ECHOED_HEADERS = {**OAUTH_HEADERS, "shopify": "X-Shopify-Access-Token"}
# Shopify's and Takealot's headers give the bucket, not its refill rate, which the client takes from the plan (2 and
# 1 requests/s). At the simulator's speed (the scenario's default, 200) the plan is that times 200, or each injected
# 429 drains the bucket into a wait of real-time seconds for a simulator that refilled in milliseconds.
PLAN_AT_SPEED = {"shopify": {"rate_limit": {"per_second": 2.0 * 200, "burst": 40}},
                 "takealot": {"rate_limit": {"per_second": 1.0 * 200, "burst": 10}}}


def _echo_the_token(header: str):
    """An order list that answers 400 quoting the token it was sent."""

    def answer(request):
        return ApiResponse(400, {"errors": [{"code": "InvalidInput", "message": f"bad marketplace for {request.headers.get(header)}"}]})

    return answer


def _access_tokens(simulator, channel: str) -> list[str]:
    """Every access token the simulated platform issued (its own record, not the pipeline's)."""
    return list(simulator._platform(channel)._access_tokens)


@pytest.mark.slow
def test_no_secret_and_no_access_token_anywhere(harness_factory, monkeypatch, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    harness = harness_factory(
        scenario(
            CHANNELS,
            faults={"server_error_5xx": 0.2, "rate_limit_429": 0.2, "expired_credentials": [n for n, _, _ in REFUSED]},
            # The warehouse ships at once, and the channels refuse some pushes quoting their own words.
            warehouse={"ship_after_hours": [0, 0]},
            anomalies={"tracking_permission_denied": 0.3, "tracking_order_deleted": 0.3},
        ),
        max_attempts=8,
        overrides_in={name: PLAN_AT_SPEED[t] for name, t, _ in CHANNELS if t in PLAN_AT_SPEED},
    )
    simulator = harness.simulator
    for name, platform_type, _ in ECHOING:
        monkeypatch.setattr(simulator._platform(name), "list_orders", _echo_the_token(ECHOED_HEADERS[platform_type]))
    assert harness.config.warehouse is not None  # the 3PL is part of every run below
    secrets = [v for creds in simulator.credentials.values() for v in creds.values()]
    assert {"shopify", "woocommerce", "amazon", "takealot", "bigcommerce", "ebay"} <= {c.type for c in harness.config.channels}
    assert all(len(s) >= 8 for s in secrets)
    monkeypatch.setenv("SYNC_CHANNELS_FILE", str(harness.config_path))
    monkeypatch.setenv("SYNC_SIMULATOR_URL", simulator.url)
    monkeypatch.setenv("SYNC_DATABASE_URL", harness.database_url)

    day = TODAY - timedelta(days=1)
    texts = []
    run_ids = []

    def run(name):
        result = harness.materialize(name, day, raise_on_error=False)
        run_ids.append(result.run_id)
        return result

    for name, _, _ in CHANNELS:
        result = run(name)
        assert name in {n for n, _, _ in HEALTHY} or not result.success, name
    for name, _, _ in HEALTHY:  # their packages' tracking, pushed through the same faults
        run_ids.append(harness.track(name, raise_on_error=False).run_id)
    # The operator's check of every channel and of the warehouse: its output and its api_calls rows. The command
    # builds its own resources with the production backoff (0.5 s base): the test's, as for the runs above.
    with monkeypatch.context() as patch:
        patch.setattr(channels_resource, "ChannelsResource", partial(channels_resource.ChannelsResource, backoff_base_s=0.01))
        patch.setattr(warehouse_resource, "WarehouseApiResource",
                      partial(warehouse_resource.WarehouseApiResource, backoff_base_s=0.01))
        for name in [*(n for n, _, _ in CHANNELS), harness.config.warehouse.name]:
            main(["check-connection", name])
    # The warehouse refusing its key: the run and the check report it.
    wrong_key = "wh_wrong_key_0123456789"
    secrets.append(wrong_key)
    monkeypatch.setenv(harness.config.warehouse.credentials["api_key"], wrong_key)
    assert not run("shop").success
    assert main(["check-connection", harness.config.warehouse.name]) == 5  # refused

    captured = capsys.readouterr()
    texts += [captured.out, captured.err]
    for run_id in run_ids:
        for record in harness.instance.all_logs(run_id):
            texts.append(record.message or "")
            if record.dagster_event is not None:
                texts.append(repr(record.dagster_event))  # event metadata and step failures with their errors
    texts.append(caplog.text)
    with get_engine(harness.database_url).connect() as connection:
        for table in metadata.sorted_tables:
            texts.extend(repr(tuple(row)) for row in connection.execute(sa.select(table)))
    everything = "\n".join(texts)

    # The failures themselves were reported, so their texts were looked at.
    assert "refused the credentials" in everything  # woo-bad: the API's 401
    assert "eBay's OAuth token endpoint refused" in everything  # ebay-bad: the token grant
    assert "was refused with HTTP 400" in everything  # the APIs that quote the token back
    assert "WAREHOUSE_API_KEY" in everything  # the refused warehouse key, named by its variable
    assert "check-connection-" in everything  # the checks' calls are in api_calls
    with get_engine(harness.database_url).connect() as connection:
        landed = set(connection.execute(sa.select(raw_orders.c.channel).distinct()).scalars())
        called = set(connection.execute(sa.select(api_calls.c.channel).distinct()).scalars())
    assert landed == {n for n, _, _ in HEALTHY}  # every platform's orders went through the texts above
    with get_engine(harness.database_url).connect() as connection:
        tracked = set(connection.execute(sa.select(tracking_updates.c.channel).distinct()).scalars())
    assert tracked == {n for n, _, _ in HEALTHY}  # and so did their packages' pushes and refusals
    assert harness.config.warehouse.name in called  # and so did the 3PL's calls
    tokens = {name: _access_tokens(simulator, name) for name, t, _ in HEALTHY + ECHOING if t in OAUTH_HEADERS}
    assert all(tokens.values()), tokens  # Amazon and eBay did hand out tokens
    for secret in secrets:
        assert secret not in everything
    for name, issued in tokens.items():
        for token in issued:
            assert token not in everything, f"{name}'s access token leaked"
    assert "bad marketplace for ***" in everything  # the quoted token, redacted


def test_a_request_that_cannot_be_sent_is_reported_without_the_secret():
    """requests quotes a header value it refuses (here a token pasted with its newline): the error says what
    happened, names the channel and the call, and shows the secret neither raw nor escaped."""
    import pytest

    from sync_pipeline.channels.http import ApiCallLog, ChannelHttp, ChannelRequestError
    from sync_pipeline.config import ChannelConfig

    secret = "shpat_0123456789abcdef\n"
    config = ChannelConfig(
        name="shop", type="shopify", base_url="http://127.0.0.1:9", credentials={"access_token": "T"}, history_days=60
    )
    log = ApiCallLog("shop")
    http = ChannelHttp(
        config, log, secrets=[secret], auth_fix="renew it", rate_limits={}, read_rate_limit=lambda headers: None,
    )
    http.session.headers["X-Shopify-Access-Token"] = secret
    with pytest.raises(ChannelRequestError) as error:
        http.request("GET", "http://127.0.0.1:9/orders.json", endpoint="orders.json")
    message = str(error.value)
    assert "channel 'shop': GET orders.json could not be sent or read: InvalidHeader" in message
    assert secret.strip() not in message and error.value.__cause__ is None and error.value.__suppress_context__
    assert [(call["endpoint"], call["error"]) for call in log.calls] == [("orders.json", "request_error")]


def test_a_token_answer_without_a_readable_token_is_an_auth_error_that_quotes_nothing(harness_factory, monkeypatch):
    import pytest

    from sync_pipeline.channels.http import ChannelAuthError

    harness = harness_factory(scenario([("amzn", "amazon", 2)]))
    half = "Atza|half-a-token-0123456789"
    monkeypatch.setattr(harness.simulator._platform("amzn"), "issue_token", lambda request: ApiResponse(200, {"acces_token": half}))
    with pytest.raises(ChannelAuthError) as error:
        harness.connector("amzn").check_connection()
    assert "auth/o2/token) answered HTTP 200 without a readable access token" in str(error.value)
    assert "AMZN_REFRESH_TOKEN" in str(error.value) and half not in str(error.value)
