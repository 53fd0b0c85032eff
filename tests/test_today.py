"""Today's date in UTC, worked out once a day: the same date as `datetime.now(UTC)`, and the
next one from midnight UTC on."""

from __future__ import annotations

from datetime import UTC, date, datetime

from webhook.today import UtcToday


def nanoseconds(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def test_today_is_the_date_in_utc_now() -> None:
    before = datetime.now(UTC).date()
    today = UtcToday()()
    assert before <= today <= datetime.now(UTC).date()


def test_the_date_changes_at_midnight_utc() -> None:
    moments = [
        datetime(2024, 2, 28, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2024, 2, 29, 0, 0, tzinfo=UTC),
        datetime(2024, 2, 29, 12, 0, tzinfo=UTC),
        datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2024, 3, 1, 0, 0, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 0, tzinfo=UTC),  # before the epoch too
        datetime(2024, 3, 1, 0, 0, tzinfo=UTC),
    ]
    clock = iter(nanoseconds(moment) for moment in moments)
    today = UtcToday(clock=lambda: next(clock))
    assert [today() for _ in moments] == [moment.date() for moment in moments]
    assert moments[0].date() == date(2024, 2, 28)
