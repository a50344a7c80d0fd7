"""The plan's cost estimate: what each endpoint of the plan costs a month before and after the
change, from a price table per cloud and region (`prices`), computed purely from the plan's
provider-neutral serving views (`estimate`). Always an estimate: list prices, no discounts,
no storage, data transfer or request charges beyond what the table names."""
