"""PII and secret detection with typed placeholders.

Detected: e-mail addresses, phone numbers, IPv4/IPv6 addresses, payment card
numbers (Luhn-checked), IBANs (ISO 13616 mod-97 checked), and secrets
(private-key blocks, AWS, GitHub, OpenAI-style, Slack and Google API keys,
and values assigned to names like ``api_key``/``password``/``token``).
Each is replaced by ``<EMAIL>``, ``<PHONE>``, ``<IP_ADDRESS>``,
``<CREDIT_CARD>``, ``<IBAN>`` or ``<SECRET>``.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Callable

PLACEHOLDERS = {
    "secret": "<SECRET>",
    "email": "<EMAIL>",
    "iban": "<IBAN>",
    "credit_card": "<CREDIT_CARD>",
    "ip_address": "<IP_ADDRESS>",
    "phone": "<PHONE>",
}

_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL
)
_TOKENS = re.compile(
    r"\b(?:AKIA[0-9A-Z]{16}"  # AWS access key id
    r"|gh[pousr]_[A-Za-z0-9]{36,}"  # GitHub
    r"|sk-(?:proj-)?[A-Za-z0-9_-]{20,}"  # OpenAI-style
    r"|xox[abprs]-[A-Za-z0-9-]{10,}"  # Slack
    r"|AIza[0-9A-Za-z_-]{35})"  # Google API key
)
_ASSIGNED = re.compile(
    r"(?i)\b((?:api[_-]?key|secret(?:[_-]?key)?|access[_-]?token|auth[_-]?token|token|password|passwd)"
    r"[\"']?\s*[:=]\s*[\"']?)([^\s\"']{8,})"
)
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,4}){1,4}(?![\w])"
)


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    compact = text.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _card(match: re.Match[str]) -> bool:
    digits = re.sub(r"\D", "", match.group())
    # payment cards start with 2-6 (ISO/IEC 7812 major industry identifier)
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_valid(digits)


def _ipv4(match: re.Match[str]) -> bool:
    return all(int(part) <= 255 for part in match.group().split("."))


def _ipv6(match: re.Match[str]) -> bool:
    try:
        ipaddress.IPv6Address(match.group())
    except ValueError:
        return False
    return True


def _phone(match: re.Match[str]) -> bool:
    digits = re.sub(r"\D", "", match.group())
    return 9 <= len(digits) <= 15


_RULES: list[tuple[str, re.Pattern[str], Callable[[re.Match[str]], bool] | None]] = [
    ("secret", _PRIVATE_KEY, None),
    ("secret", _TOKENS, None),
    ("email", _EMAIL, None),
    ("iban", _IBAN, lambda m: iban_valid(m.group())),
    ("credit_card", _CARD, _card),
    ("ip_address", _IPV4, _ipv4),
    ("ip_address", _IPV6, _ipv6),
    ("phone", _PHONE, _phone),
]


def redact(text: str) -> tuple[str, Counter[str]]:
    """``text`` with every detected item replaced by its placeholder, and counts by kind."""
    counts: Counter[str] = Counter()

    def keep_name(match: re.Match[str]) -> str:
        counts["secret"] += 1
        return match.group(1) + PLACEHOLDERS["secret"]

    text = _ASSIGNED.sub(keep_name, text)
    for kind, pattern, check in _RULES:

        def replace(match: re.Match[str], kind: str = kind, check=check) -> str:
            if check is not None and not check(match):
                return match.group()
            counts[kind] += 1
            return PLACEHOLDERS[kind]

        text = pattern.sub(replace, text)
    return text, counts


def redact_columns(row: dict, columns: list[str]) -> tuple[dict, Counter[str]]:
    """A copy of ``row`` with its string (or list-of-string) ``columns`` redacted."""
    out, counts = dict(row), Counter()
    for column in columns:
        value = row.get(column)
        if isinstance(value, str):
            out[column], found = redact(value)
            counts += found
        elif isinstance(value, list):
            cleaned = []
            for item in value:
                text, found = redact(item) if isinstance(item, str) else (item, Counter())
                cleaned.append(text)
                counts += found
            out[column] = cleaned
    return out, counts
