"""channels.yaml validation: a bad entry is disabled alone, named with its field, value and line; a problem of
the whole file stops everything and says so."""

from __future__ import annotations

import pytest

from sync_pipeline.config import ConfigError, UnknownChannelError, load_config, parse_config, read_config


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
                                                "magento", "bobshop"]
    assert config.disabled == []
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
        ({"name": "Shop 1"}, "channel 'Shop 1' (channels[0]): name: 'Shop 1' may only hold lower-case letters"),
        ({"name": "shop|1"}, "may only hold lower-case letters"),
        ({"type": "shopfy"}, "type: 'shopfy' is not one of shopify, woocommerce, amazon, takealot, bigcommerce, ebay"),
        ({"timezone": "Mars/Olympus"}, "timezone: 'Mars/Olympus' is not an IANA time zone"),
        ({"base_url": "shop.example.com"}, "base_url: 'shop.example.com' must start with http"),
        ({"history_days": 0}, "history_days: 0: input should be greater than 0"),
        ({"colour": "red"}, "colour: not a setting of a channel; remove it or correct its spelling"),
        ({"timezon": "UTC"}, "timezon: not a setting of a channel; did you mean 'timezone'?"),
        ({"credentials": None}, "credentials: None: input should be a valid dictionary"),
    ],
)
def test_bad_channel_entries_name_channel_field_and_value(overrides, expected):
    with pytest.raises(ConfigError) as error:
        parse_config({"channels": [channel(**overrides)]}, "channels.yaml")
    assert str(error.value).startswith("channels.yaml: ")
    assert expected in str(error.value)


def test_a_type_typo_is_one_problem_not_also_the_defaults_it_would_have_brought():
    config = read_config({"channels": [channel(type="shopfy")]}, "c.yaml")
    assert [p.message for p in config.disabled[0].problems] == [
        "channel 'shop-1' (channels[0]): type: 'shopfy' is not one of shopify, woocommerce, amazon, takealot, "
        "bigcommerce, ebay, magento, bobshop"]


BAD_FILE = """\
partitions_start_date: 2025-01-01
channels:
  - name: shop-1
    type: shopify
    base_url: https://shop-1.myshopify.com
    credentials: {access_token: SHOP_1_TOKEN}
  - name: typo
    type: shopfy
    base_url: https://typo.myshopify.com
    credentials: {access_token: TYPO_TOKEN}
  - type: woocommerce
    credentials: {consumer_key: K, consumer_secret: S}
  - just text
"""


def test_a_bad_entry_is_disabled_alone_with_its_line_and_the_others_load(tmp_path):
    path = tmp_path / "channels.yaml"
    path.write_text(BAD_FILE)
    config = load_config(path, simulator_url="http://127.0.0.1:9")
    assert [c.name for c in config.channels] == ["shop-1"]
    assert config.channel("shop-1").base_url == "http://127.0.0.1:9/shop-1"
    typo, nameless, text = config.disabled
    assert (typo.key, nameless.key, text.key) == ("typo", "channels[2]", "channels[3]")
    assert typo.error == (f"{path}:8: channel 'typo' (channels[1]): type: 'shopfy' is not one of shopify, woocommerce, "
                          "amazon, takealot, bigcommerce, ebay, magento, bobshop; the channel is disabled until the "
                          "entry is fixed")
    # A name that cannot be read is reported by its place in the list and its line; a missing base_url is an error
    # even though the simulator would re-point it.
    assert [str(p) for p in nameless.problems] == [
        f"{path}:11: channels[2] (no readable name): name: missing; add it to the entry",
        f"{path}:11: channels[2] (no readable name): base_url: missing; add the API's address (https://...): "
        "SYNC_SIMULATOR_URL re-points a base_url, it does not stand in for one"]
    assert str(text.problems[0]) == f"{path}:13: channels[3] (no readable name): must be a mapping of settings " \
                                    "(name, type, base_url, ...)"
    with pytest.raises(ConfigError) as error:  # a command for the bad channel refuses with its error, not "unknown"
        config.channel("typo")
    assert not isinstance(error.value, UnknownChannelError) and str(error.value) == typo.error


def test_file_level_problems_still_stop_everything_and_say_so(tmp_path):
    path = tmp_path / "channels.yaml"
    path.write_text(BAD_FILE.replace("name: typo", "name: shop-1"))
    with pytest.raises(ConfigError, match=r"repeated: shop-1; every channel is stopped until the file is fixed$"):
        load_config(path)
    path.write_text("channels:\n  - name: a\n   type: [\n")
    with pytest.raises(ConfigError, match=rf"^{path}:3: not valid YAML: .*; every channel is stopped until"):
        load_config(path)
    path.write_text("partitions_start_date: 2025-01-01\n")
    with pytest.raises(ConfigError, match="expected a mapping with a 'channels' list; every channel is stopped"):
        load_config(path)


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
    with pytest.raises(ConfigError, match=r"x.yaml: warehouse: base_url: 'ftp://x' must start with http.*the warehouse "
                                          r"serves every channel\); every channel is stopped"):
        parse_config({"channels": [], "warehouse": {**good, "base_url": "ftp://x"}}, "x.yaml")
    with pytest.raises(ConfigError, match=r"x.yaml: warehouse: concurrency: 0: input should be greater"):
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
