"""Five-field cron <-> AWS cron, the conversion retraining schedules and monitors share."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from mlops_sagemaker import aws_cron

from mlops_gitops.cron import next_runs


@pytest.mark.parametrize(
    ("cron", "aws"),
    [
        ("0 3 * * 1", "cron(0 3 ? * MON *)"),
        ("30 4 * * 1-5", "cron(30 4 ? * MON-FRI *)"),
        ("0 12 * * 0,6", "cron(0 12 ? * SUN,SAT *)"),
        ("0 12 * * 7", "cron(0 12 ? * SUN *)"),  # cron's second Sunday
        ("0 0 * * 5-7", "cron(0 0 ? * SUN,FRI,SAT *)"),  # a range through Sunday, not FRI-SUN
        ("0 0 * * mon,wed", "cron(0 0 ? * MON,WED *)"),
        ("0 0 * * 1/2", "cron(0 0 ? * MON,WED,FRI *)"),
        ("0 3 * * */2", "cron(0 3 ? * SUN,TUE,THU,SAT *)"),
        ("0 0 * * 0-6", "cron(0 0 ? * * *)"),
        ("0 9 * * 5#2", "cron(0 9 ? * FRI#2 *)"),
        ("0 3 * * *", "cron(0 3 * * ? *)"),
        ("0 3 ? * 1", "cron(0 3 ? * MON *)"),
        ("0 0 1,15 * *", "cron(0 0 1,15 * ? *)"),
        ("30 2 1 * *", "cron(30 2 1 * ? *)"),
        ("0 0 L * *", "cron(0 0 L * ? *)"),
        ("0 0 15W * *", "cron(0 0 15W * ? *)"),
        ("*/15 * * * *", "cron(0/15 * * * ? *)"),
        ("0 */6 */2 * *", "cron(0 0/6 1/2 * ? *)"),
        ("0 1-10/3 * * *", "cron(0 1,4,7,10 * * ? *)"),
        ("0 17-23/12 * * *", "cron(0 17/12 * * ? *)"),  # a step to the last hour is AWS's own `a/n`
        ("0 0 1 jan-mar *", "cron(0 0 1 JAN-MAR ? *)"),
        ("0 0 1 */3 *", "cron(0 0 1 1/3 ? *)"),
    ],
)
def test_five_field_cron_becomes_aws_cron(cron: str, aws: str) -> None:
    assert aws_cron.to_aws(cron) == aws


@pytest.mark.parametrize(
    ("cron", "aws"),
    [
        ("0 5 * * *", "cron(0 5 ? * * *)"),
        ("0 */6 * * *", "cron(0 0/6 ? * * *)"),
        ("0 3 * * 1-5", "cron(0 3 ? * MON-FRI *)"),  # a restricted day field decides alone
        ("0 0 1 1 *", "cron(0 0 1 1 ? *)"),
    ],
)
def test_the_question_mark_goes_where_the_caller_says_when_no_day_is_restricted(cron: str, aws: str) -> None:
    assert aws_cron.to_aws(cron, question_mark="day_of_month") == aws


@pytest.mark.parametrize(
    ("cron", "why"),
    [
        ("0 0 1 * 1", "both restricted"),
        ("0 0 * * 1#2,5", "cannot be expressed"),
        ("0 0 * * 5L", "the day-of-week field '5L' cannot be expressed in AWS cron"),
        ("0 0 * *", "expected 5 fields, got 4"),
        ("0 0 * * 5-2", "runs backwards"),
    ],
)
def test_crons_aws_cannot_say_are_refused(cron: str, why: str) -> None:
    with pytest.raises(aws_cron.CronError, match=why):
        aws_cron.to_aws(cron)
    assert issubclass(aws_cron.CronError, ValueError)  # callers may catch it as one


@pytest.mark.parametrize(
    ("aws", "cron"),
    [
        ("cron(0 3 ? * MON *)", "0 3 * * MON"),
        ("cron(0 3 ? * 2 *)", "0 3 * * 1"),  # AWS counts Sunday as 1
        ("cron(0 3 ? * 1-5 *)", "0 3 * * 0-4"),
        ("cron(0 9 ? * 6#3 *)", "0 9 * * 5#3"),
        ("cron(0/15 * * * ? *)", "*/15 * * * *"),
        ("cron(5/15 2 L * ? *)", "5-59/15 2 L * *"),
        ("cron(0 0/6 ? * * *)", "0 */6 * * *"),
        ("rate(7 days)", None),
        ("at(2026-12-01T03:00:00)", None),
        ("cron(0 3 * * ? 2027)", None),  # a year has no five-field equivalent
        ("cron(0 3 ? * 6L *)", None),
    ],
)
def test_aws_cron_reads_back_as_five_field_cron(aws: str, cron: str | None) -> None:
    assert aws_cron.from_aws(aws) == cron


@pytest.mark.parametrize(
    "aws", ["cron(5/15 2 L * ? *)", "cron(0 17/12 * * ? *)", "cron(0 3 ? * MON-FRI *)", "cron(0 0 1 1/3 ? *)"]
)
def test_reading_back_and_converting_again_gives_the_same_expression(aws: str) -> None:
    back = aws_cron.from_aws(aws)
    assert back is not None
    assert aws_cron.to_aws(back) == aws


@pytest.mark.parametrize(
    "cron",
    [
        "0 3 * * 1",
        "30 4 * * 1-5",
        "0 0 * * 5-7",
        "*/20 */5 * * *",
        "0 0 L * *",
        "0 9 * * 5#2",
        "0 1-23/5 * * *",
        "0 1-10/3 * * *",
    ],
)
def test_conversion_keeps_the_run_times(cron: str) -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    back = aws_cron.from_aws(aws_cron.to_aws(cron))
    assert back is not None
    assert next_runs(back, "Europe/Paris", now, 40) == next_runs(cron, "Europe/Paris", now, 40)
