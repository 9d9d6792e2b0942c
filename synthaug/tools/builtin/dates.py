"""Calendar and date arithmetic: the built-in date tools. Run in the sandbox only."""

import calendar
import datetime


def _date(text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a date in YYYY-MM-DD form: {text!r}") from None


def add_to_date(date: str, days: int = 0, weeks: int = 0, months: int = 0, years: int = 0) -> str:
    """The date a number of days, weeks, months and years after (or, negative, before) a date.

    Args:
        date: the starting date, YYYY-MM-DD
        days: days to add (negative to subtract)
        weeks: weeks to add
        months: calendar months to add; the day is clipped to the month's last day
        years: years to add
    """
    start = _date(date)
    month_index = start.year * 12 + start.month - 1 + months + 12 * years
    year, month = divmod(month_index, 12)
    if not 1 <= year <= 9999:
        raise ValueError("the result is outside years 1 to 9999")
    day = min(start.day, calendar.monthrange(year, month + 1)[1])
    shifted = datetime.date(year, month + 1, day) + datetime.timedelta(days=days, weeks=weeks)
    return shifted.isoformat()


def days_between(start: str, end: str) -> int:
    """The number of days from one date to another (negative when the end comes first).

    Args:
        start: the first date, YYYY-MM-DD
        end: the second date, YYYY-MM-DD
    """
    return (_date(end) - _date(start)).days


def day_of_week(date: str) -> str:
    """The day of the week a date falls on, e.g. "Monday".

    Args:
        date: the date, YYYY-MM-DD
    """
    return calendar.day_name[_date(date).weekday()]
