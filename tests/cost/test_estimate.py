"""The estimator on hand-made serving views: pure, no provider, no cloud."""

import pytest

from mlops_gitops.cost.estimate import HOURS_PER_MONTH, Assumptions, Pricing, estimate
from mlops_gitops.cost.prices import PriceTable
from mlops_gitops.cost.text import EN_DASH, summary_line

TABLE = PriceTable(
    currency="USD",
    date="2026-01-01",
    source="test table",
    regions={"us-east-1": {"ml.m5.xlarge": 0.25, "ml.g5.xlarge": 1.5}},
    serverless={"us-east-1": {"per_gb_second": 0.00002}},
)
PRICING = Pricing(TABLE, "us-east-1")


def variant(name="v", **kw):
    base = {
        "name": name,
        "model": "m",
        "traffic_percent": 100.0,
        "mirror_percent": None,
        "instance_type": "ml.m5.xlarge",
        "instance_count": 1,
        "min_instances": None,
        "max_instances": None,
        "serverless_memory_mb": None,
        "serverless_max_concurrency": None,
    }
    return {**base, **kw}


def view(*variants):
    return {"variants": list(variants)}


def one(before, after, pricing=PRICING):
    doc = estimate([("endpoint.api", {"before": before, "after": after})], pricing)
    assert doc is not None
    return doc, doc["resources"][0]


def test_fixed_count_is_instance_hours_times_count():
    doc, res = one(view(variant(instance_count=2)), view(variant(instance_count=3)))
    month = 0.25 * HOURS_PER_MONTH
    assert res["before"] == {"min": round(2 * month, 2), "max": round(2 * month, 2)}
    assert res["after"] == {"min": round(3 * month, 2), "max": round(3 * month, 2)}
    assert res["delta"] == {"min": round(month, 2), "max": round(month, 2)}
    assert res["lines"] == [
        {
            "variant": "v",
            "instance_type": "ml.m5.xlarge",
            "serverless_memory_mb": None,
            "count_min": 3,
            "count_max": 3,
            "hourly": 0.25,
            "monthly_min": 547.5,
            "monthly_max": 547.5,
        }
    ]
    assert doc["estimate"] is True and doc["currency"] == "USD"
    assert doc["monthly_before"] == res["before"] and doc["monthly_after"] == res["after"]
    assert doc["basis"] == (
        "730 hours a month in us-east-1; test table, 2026-01-01; "
        "serverless: 1,000,000 requests a month of 100 ms"
    )
    assert doc["unpriced"] == []


def test_autoscaling_is_a_min_max_range():
    _doc, res = one(None, view(variant(instance_count=2, min_instances=1, max_instances=4)))
    assert res["after"] == {"min": 182.5, "max": 730.0}
    assert (res["lines"][0]["count_min"], res["lines"][0]["count_max"]) == (1, 4)


def test_serverless_is_memory_times_assumed_requests_and_duration():
    v = variant(instance_type=None, instance_count=None, serverless_memory_mb=2048)
    _doc, res = one(None, view(v))
    # 0.00002 $/GB-s x 2 GB x 0.1 s x 1,000,000 requests
    assert res["after"] == {"min": 4.0, "max": 4.0}
    assumed = Pricing(TABLE, "us-east-1", assumptions=Assumptions(5_000_000, 250))
    doc, res = one(None, view(v), assumed)
    assert res["after"] == {"min": 50.0, "max": 50.0}
    assert doc["basis"].endswith("serverless: 5,000,000 requests a month of 250 ms")


def test_unknown_instance_type_is_unpriced_not_guessed():
    after = view(variant("a", instance_count=1), variant("b", instance_type="ml.foo.bar"))
    doc, res = one(None, after)
    assert res["after"] == {"min": 182.5, "max": 182.5}  # only what is priced
    assert res["unpriced"] == ["variants[1]: instance type ml.foo.bar has no price in us-east-1"]
    assert doc["unpriced"] == [
        "endpoint.api: variants[1]: instance type ml.foo.bar has no price in us-east-1"
    ]
    assert summary_line(doc).endswith("; 1 variant unpriced")


def test_unknown_region_is_unpriced():
    _doc, res = one(None, view(variant()), Pricing(TABLE, "eu-west-1"))
    assert res["after"] == {"min": 0.0, "max": 0.0}
    assert res["unpriced"] == [
        "variants[0]: instance type ml.m5.xlarge: the price table has no region eu-west-1"
    ]


def test_mirror_variants_still_cost_their_instances():
    shadow = variant("shadow", traffic_percent=0.0, mirror_percent=20.0, instance_type="ml.g5.xlarge")
    _doc, res = one(None, view(variant("live"), shadow))
    assert res["after"]["min"] == round((0.25 + 1.5) * HOURS_PER_MONTH, 2)
    assert [line["variant"] for line in res["lines"]] == ["live", "shadow"]


def test_delete_has_no_after_and_a_negative_delta():
    doc, res = one(view(variant(instance_count=2)), None)
    assert res["after"] is None
    assert res["delta"] == {"min": -365.0, "max": -365.0}
    assert res["lines"][0]["count_min"] == 2  # what it cost
    assert doc["monthly_after"] == {"min": 0.0, "max": 0.0}
    assert summary_line(doc) == "Cost estimate: $365/month → $0/month (-$365/month)"


def test_create_has_no_before():
    doc, res = one(None, view(variant(min_instances=1, max_instances=2)))
    assert res["before"] is None
    assert doc["delta"] == {"min": 182.5, "max": 365.0}
    assert summary_line(doc) == f"Cost estimate: $0/month → $183{EN_DASH}$365/month (+$183 to +$365/month)"


def test_totals_add_up_resources_and_none_without_endpoints():
    a = ("endpoint.a", {"before": view(variant()), "after": view(variant())})
    b = ("endpoint.b", {"before": None, "after": view(variant(instance_count=2))})
    doc = estimate([a, b], PRICING)
    assert doc["monthly_before"] == {"min": 182.5, "max": 182.5}
    assert doc["monthly_after"] == {"min": 547.5, "max": 547.5}
    assert doc["delta"] == {"min": 365.0, "max": 365.0}
    assert estimate([], PRICING) is None


def test_no_table_prices_nothing_and_says_so():
    pricing = Pricing(None, "us-east-1", missing_table="provider x ships no price table")
    doc, res = one(None, view(variant()), pricing)
    assert res["unpriced"] == ["variants[0]: provider x ships no price table"]
    assert "provider x ships no price table" in doc["basis"]


def test_region_assumed_is_said_in_the_basis():
    doc, _res = one(None, view(variant()), Pricing(TABLE, "us-east-1", region_assumed=True))
    assert "in us-east-1 (assumed: set cost.region)" in doc["basis"]


@pytest.mark.parametrize("count", [None, "2"])
def test_an_unknown_count_is_unpriced(count):
    _doc, res = one(None, view(variant(instance_count=count)))
    assert res["unpriced"] == ["variants[0]: instance count unknown"]
