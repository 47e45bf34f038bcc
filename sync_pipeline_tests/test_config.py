"""channels.yaml validation: every bad entry is refused with the channel and field named."""

from __future__ import annotations

import pytest

from sync_pipeline.config import ConfigError, load_config, parse_config


def channel(**overrides):
    entry = {
        "name": "shop-1",
        "type": "shopify",
        "base_url": "https://shop-1.myshopify.com",
        "credentials": {"access_token": "SHOP_1_TOKEN"},
    }
    entry.update(overrides)
    return entry


def test_the_shipped_channels_file_loads_with_type_defaults():
    config = load_config()
    assert [c.type for c in config.channels] == ["shopify", "woocommerce", "amazon", "takealot", "bigcommerce", "ebay",
                                                "magento"]
    takealot = config.channel("takealot-demo")
    assert takealot.history_days == 30
    assert takealot.timezone == "Africa/Johannesburg"


def test_type_defaults_fill_missing_fields():
    config = parse_config({"channels": [channel()]}, "test.yaml")
    assert config.channels[0].history_days == 60
    assert config.channels[0].timezone == "America/New_York"


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"name": "Shop 1"}, "channel 'Shop 1': field 'name'"),
        ({"name": "shop|1"}, "may only hold lower-case letters"),
        ({"type": "shopfy"}, "field 'type'"),
        ({"timezone": "Mars/Olympus"}, "'Mars/Olympus' is not an IANA time zone"),
        ({"base_url": "shop.example.com"}, "must start with http"),
        ({"history_days": 0}, "field 'history_days'"),
        ({"colour": "red"}, "field 'colour'"),
        ({"credentials": None}, "field 'credentials'"),
    ],
)
def test_bad_channel_entries_name_channel_and_field(overrides, expected):
    with pytest.raises(ConfigError) as error:
        parse_config({"channels": [channel(**overrides)]}, "channels.yaml")
    assert "channels.yaml" in str(error.value)
    assert expected in str(error.value)


def test_duplicate_names_are_refused():
    with pytest.raises(ConfigError, match="repeated: shop-1"):
        parse_config({"channels": [channel(), channel()]}, "channels.yaml")


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("channels: [", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)


def test_secret_comes_from_the_environment_and_errors_name_only_the_variable(monkeypatch):
    config = parse_config({"channels": [channel()]}, "channels.yaml").channels[0]
    monkeypatch.delenv("SHOP_1_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="environment variable SHOP_1_TOKEN .* is not set"):
        config.secret("access_token")
    monkeypatch.setenv("SHOP_1_TOKEN", "shpat_s3cret")
    assert config.secret("access_token") == "shpat_s3cret"


def test_simulator_url_repoints_every_channel_including_amazon_login():
    amazon = {
        "name": "az",
        "type": "amazon",
        "base_url": "https://sellingpartnerapi-na.amazon.com",
        "credentials": {"refresh_token": "A", "client_id": "B", "client_secret": "C"},
    }
    config = parse_config({"channels": [channel(), amazon]}, "c.yaml", simulator_url="http://127.0.0.1:9/")
    assert config.channel("shop-1").base_url == "http://127.0.0.1:9/shop-1"
    assert config.channel("az").options["lwa_url"] == "http://127.0.0.1:9/az/auth/o2/token"


def test_the_warehouse_section_is_validated_and_follows_the_simulator(monkeypatch):
    good = {"base_url": "https://fcp.example.com", "credentials": {"api_key": "WH_KEY"}}
    config = parse_config({"channels": [], "warehouse": good}, "x.yaml", "http://127.0.0.1:9")
    assert config.warehouse.base_url == "http://127.0.0.1:9/warehouse" and config.warehouse.concurrency == 4
    assert config.credential_variables() == {"warehouse": {"api_key": "WH_KEY"}}
    with pytest.raises(ConfigError, match=r"x.yaml: warehouse: field 'base_url': .*must start with http"):
        parse_config({"channels": [], "warehouse": {**good, "base_url": "ftp://x"}}, "x.yaml")
    with pytest.raises(ConfigError, match=r"x.yaml: warehouse: field 'concurrency'"):
        parse_config({"channels": [], "warehouse": {**good, "concurrency": 0}}, "x.yaml")
    monkeypatch.delenv("WH_KEY", raising=False)
    with pytest.raises(ConfigError, match="warehouse 'warehouse': environment variable WH_KEY"):
        config.warehouse.secret("api_key")


@pytest.mark.parametrize(
    "warehouse, reserved",
    [
        (None, "warehouse"),  # no warehouse section: its default name is still reserved
        ({"base_url": "https://fcp.example.com", "credentials": {"api_key": "WH_KEY"}}, "warehouse"),
        ({"name": "fcp", "base_url": "https://fcp.example.com", "credentials": {"api_key": "WH_KEY"}}, "fcp"),
    ],
)
def test_a_channel_may_not_take_the_warehouses_name(warehouse, reserved):
    """api_calls logs the 3PL's calls under the warehouse's name: a channel of that name would mix with them."""
    raw = {"channels": [channel(), channel(name=reserved)], **({"warehouse": warehouse} if warehouse else {})}
    with pytest.raises(ConfigError) as error:
        parse_config(raw, "channels.yaml")
    message = str(error.value)
    assert message.startswith(f"channels.yaml: channel {reserved!r} (channels[1]):")
    assert f"the name {reserved!r} is reserved for the warehouse" in message
    assert "rename the channel" in message
    # Any other name is fine, including "warehouse" once the warehouse is called something else.
    others = {**raw, "channels": [channel(), channel(name="warehouse" if reserved == "fcp" else "warehouse-2")]}
    assert len(parse_config(others, "channels.yaml").channels) == 2
