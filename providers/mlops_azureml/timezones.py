"""IANA time zones (what the stack says: `timezone: Europe/Paris`) to the Windows names Azure ML
schedules take (`Romance Standard Time`), through tzlocal's copy of the Unicode CLDR table.

A few Windows zones exist in that table but not in Azure ML's list (`azure.ai.ml.constants.
TimeZone`, read from azure-ai-ml 1.35.2 and kept here so validate imports no SDK; a test compares
the two): an IANA zone that maps to one of them, or to nothing, is refused at validate time."""

from __future__ import annotations

from tzlocal.windows_tz import tz_win

# Windows zones of the CLDR table that Azure ML's TimeZone enum does not list.
NOT_IN_AZURE_ML = frozenset(
    {
        "Alberta Standard Time",
        "British Columbia Standard Time",
        "Magallanes Standard Time",
        "Manitoba Standard Time",
        "Omsk Standard Time",
        "Qyzylorda Standard Time",
        "Sao Tome Standard Time",
        "Saratov Standard Time",
        "South Sudan Standard Time",
        "Sudan Standard Time",
        "UTC+13",
        "Volgograd Standard Time",
        "Yukon Standard Time",
    }
)


class UnknownTimeZone(ValueError):
    """An IANA zone Azure ML schedules cannot run in."""


def windows_name(iana: str) -> str:
    """The Windows name of `iana` that Azure ML accepts; UnknownTimeZone if there is none."""
    if iana.upper() in ("UTC", "ETC/UTC", "Z"):
        return "UTC"
    name = tz_win.get(iana)
    if name is None:
        raise UnknownTimeZone(
            f"time zone {iana!r} has no Windows name, which Azure ML schedules need: use a zone "
            "such as Europe/Paris, America/New_York or UTC"
        )
    if name in NOT_IN_AZURE_ML:
        raise UnknownTimeZone(
            f"time zone {iana!r} is {name!r} in Windows terms, which Azure ML schedules do not offer: "
            "use a neighbouring zone with the same offset, or UTC"
        )
    return name


def iana_name(windows: str) -> str:
    """An IANA zone for a Windows name (for `import --generate-config`): the CLDR's own choice."""
    from tzlocal.windows_tz import win_tz

    return "UTC" if windows == "UTC" else win_tz.get(windows, windows)
