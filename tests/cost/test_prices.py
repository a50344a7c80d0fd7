"""The shipped price tables, and a stack's own price file over them."""

import json

import pytest

from mlops_gitops.cost.prices import PriceFileError, PriceTable, load_file, parse, shipped
from mlops_gitops.plugins import provider_class

PROVIDERS = {"sagemaker": "mlops_sagemaker", "vertex": "mlops_vertex", "azureml": "mlops_azureml"}


@pytest.mark.parametrize("package", sorted(PROVIDERS.values()))
def test_shipped_tables_validate_and_carry_date_and_source(package):
    table = shipped(package)
    assert table is not None
    assert table.currency == "USD"
    assert table.date and table.source.startswith("https://")
    assert table.notes  # what the figures are, and where each comes from
    assert table.default_region
    for types in table.regions.values():
        assert all(price > 0 for price in types.values())


def test_the_sagemaker_table_prices_common_types():
    table = shipped("mlops_sagemaker")
    assert table.hourly("us-east-1", "ml.m5.xlarge") == 0.23
    assert table.hourly("us-east-1", "ml.g5.xlarge") == 1.408
    assert table.serverless["us-east-1"].per_gb_second == 0.00002
    assert table.hourly("us-east-1", "ml.foo.bar") is None


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_each_provider_finds_its_table(name):
    cls = provider_class(name)
    # The default hook reads the prices.json of the provider's own package, without a config.
    table = cls.prices(object.__new__(cls))
    assert table == shipped(PROVIDERS[name])


def test_an_override_replaces_and_extends():
    base = shipped("mlops_sagemaker")
    mine = PriceTable(
        currency="USD",
        date="2026-06-01",
        source="our negotiated rates",
        regions={"us-east-1": {"ml.m5.xlarge": 0.2}, "eu-west-1": {"ml.m5.xlarge": 0.26}},
    )
    merged = base.with_override(mine)
    assert merged.hourly("us-east-1", "ml.m5.xlarge") == 0.2  # replaced
    assert merged.hourly("us-east-1", "ml.m5.large") == base.hourly("us-east-1", "ml.m5.large")  # kept
    assert merged.hourly("eu-west-1", "ml.m5.xlarge") == 0.26  # extended
    assert merged.serverless == base.serverless
    assert merged.date == "2026-06-01"
    assert merged.source.startswith("our negotiated rates over https://aws.amazon.com/")
    # The shipped table itself is untouched.
    assert base.hourly("us-east-1", "ml.m5.xlarge") == 0.23


def test_an_override_in_another_currency_is_the_whole_table():
    mine = PriceTable(currency="EUR", date="2026-06-01", source="ours", regions={"x": {"y": 1.0}})
    assert shipped("mlops_sagemaker").with_override(mine) == mine


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"currency": "USD", "date": "2026-01-01"}, "t.json: source: Field required"),
        (
            {"currency": "USD", "date": "2026-01-01", "source": "s", "regions": {"us-east-1": {"ml.x": -1}}},
            't.json: regions.us-east-1["ml.x"]: Input should be greater than or equal to 0',
        ),
        ({"currency": "USD", "date": "1 May", "source": "s"}, "t.json: date: String should match pattern"),
        ({"currency": "USD", "date": "2026-01-01", "source": "s", "extra": 1}, "t.json: extra: Extra inputs"),
    ],
)
def test_a_bad_table_is_one_located_line(doc, message):
    with pytest.raises(PriceFileError) as err:
        parse(json.dumps(doc), "t.json")
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_a_missing_or_broken_file(tmp_path):
    with pytest.raises(PriceFileError, match=r"nope.json: cannot read the price file"):
        load_file(tmp_path / "nope.json")
    (tmp_path / "p.json").write_text("{", encoding="utf-8")
    with pytest.raises(PriceFileError, match=r"p.json: not JSON: .*\(line 1, column 2\)"):
        load_file(tmp_path / "p.json")
