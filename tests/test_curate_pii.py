"""PII and secret redaction."""

from __future__ import annotations

import pytest
from conftest import read_jsonl, run_cli, write_jsonl

from synthaug.curate.pii import iban_valid, luhn_valid, redact

CASES = [
    ("mail me at jane.doe+x@mail.example.co.uk today", "email"),
    ("call +44 20 7946 0958 after six", "phone"),
    ("call (415) 555-0132 after six", "phone"),
    ("host 10.0.12.7 is down", "ip_address"),
    ("v6 2001:db8::8a2e:370:7334 answers", "ip_address"),
    ("card 4111 1111 1111 1111 expires", "credit_card"),
    ("card 5500-0000-0000-0004 expires", "credit_card"),
    ("pay to DE89 3704 0044 0532 0130 00 now", "iban"),
    ("key AKIAIOSFODNN7EXAMPLE leaked", "secret"),
    ("token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 leaked", "secret"),
    ('config: api_key = "abcd1234efgh5678"', "secret"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "secret"),
]

CLEAN = [
    "The year 2024 had 366 days and 12 months.",
    "Version 1.2.3.4.5 costs 3.50 dollars at 12:30.",
    "Invalid card 4111 1111 1111 1112 stays, as does 999.1.1.1.",
    "Count to 1 2 3 4 5 6 7 8 9 slowly.",
    "The ratio is 3:4 and the IBAN-like GB00 0000 0000 0000 0000 00 fails its check.",
]


@pytest.mark.parametrize(("text", "kind"), CASES)
def test_each_kind_is_found_and_replaced(text, kind):
    redacted, counts = redact(text)
    assert counts == {kind: 1}, (redacted, counts)
    assert f"<{kind.upper()}>" in redacted or (kind == "secret" and "<SECRET>" in redacted)


@pytest.mark.parametrize("text", CLEAN)
def test_clean_text_is_untouched(text):
    assert redact(text) == (text, {})


def test_checksums():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert iban_valid("GB82 WEST 1234 5698 7654 32") and not iban_valid(
        "GB82 WEST 1234 5698 7654 33"
    )


def test_redact_command_rewrites_columns_and_reports_counts(tmp_path):
    rows = [
        {"text": CASES[0][0], "other": "x@y.com"},
        {"text": ["a", CASES[3][0]], "other": "keep"},
    ]
    write_jsonl(tmp_path / "in.jsonl", rows)
    result = run_cli(
        "redact", "in.jsonl", "-o", "out.jsonl", "--columns", "text", "--quiet", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    out = read_jsonl(tmp_path / "out.jsonl")
    assert out[0] == {"text": "mail me at <EMAIL> today", "other": "x@y.com"}
    assert out[1]["text"] == ["a", "host <IP_ADDRESS> is down"]
    report = read_jsonl(tmp_path / "out.report.jsonl")
    assert [r["redacted"] for r in report] == [{"email": 1}, {"ip_address": 1}]
