"""Importing the policy book: bad rows named and stopped, good rows upserted idempotently."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text

from ivr.cli import main
from ivr.config import get_settings, set_settings
from ivr.db.models import AgentStatus, Customer, CustomerPhone, PhoneKind, Policy, PolicyStatus, SalesAgent, Tier
from ivr.db.session import session_scope
from ivr.domain.book_import import BookFileError, BookFiles, ImportReport, import_book
from ivr.domain.customers import find_customer_by_phone, find_policy

DOCS = Path(__file__).resolve().parent.parent / "docs" / "import.md"

AGENTS = """agent_code,name,licence_no,branch,status
AG0001,王建国,02011100000012345678,北京分公司,active
AG0002,李秀英,02013100000087654321,上海分公司,terminated
"""
CUSTOMERS = """customer_no,name,gender,birth_date,national_id,language,tier,mobile,home_phone,work_phone
C1,张伟,male,1985-03-12,110105198503121234,zh,vip,138 0013 8001,010-62345678,
C2,刘芳,female,1990-07-01,31010419900701008x,zh,standard,+86 139 1234 5678,010-62345678,021-61234567-801
C3,Emma Wilson,female,1978-11-23,E12345678,en,standard,0086-13712345678,,
"""
POLICIES = """policy_no,customer_no,product_line,product_name,status,sum_insured,premium,payment_frequency,start_date,end_date,paid_to_date,next_due_date,agent_code
8810000001,C1,life,终身寿险,in_force,500000.00,1234.50,monthly,2019-04-01,,2026-12-01,2026-12-01,AG0001
8810000002,C2,health,百万医疗险,grace,2000000,356,monthly,2022-01-15,,2026-11-01,2026-11-01,AG0001
8810000003,C3,motor,Motor Comprehensive,terminated,1000000,4800,annual,2020-06-01,2025-06-01,2025-06-01,,AG0002
"""


def _write(folder: Path, name: str, content: str, encoding: str = "utf-8") -> Path:
    path = folder / name
    path.write_text(content, encoding=encoding)
    return path


def _book(folder: Path, agents: str = AGENTS, customers: str = CUSTOMERS, policies: str = POLICIES) -> BookFiles:
    return BookFiles(_write(folder, "agents.csv", agents), _write(folder, "customers.csv", customers),
                     _write(folder, "policies.csv", policies))


def _import(files: BookFiles, skip_invalid: bool = False) -> ImportReport:
    settings = get_settings()
    with session_scope() as session:
        return import_book(session, files, salt=settings.national_id_salt, country_code=settings.country_code,
                           skip_invalid=skip_invalid)


def _count(model: type) -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _counts(report: ImportReport) -> list[tuple[int, int, int, int]]:
    return [(f.counts.inserted, f.counts.updated, f.counts.unchanged, len(f.problems)) for f in report.files]


def test_good_files_import_agents_customers_and_policies(database_url: str, tmp_path: Path) -> None:
    report = _import(_book(tmp_path))

    assert report.written and report.problems == []
    assert _counts(report) == [(2, 0, 0, 0), (3, 0, 0, 0), (3, 0, 0, 0)]
    with session_scope() as session:
        policy = find_policy(session, " 8810000001 ")
        assert policy is not None
        assert (policy.holder.name, policy.holder.tier, policy.premium) == ("张伟", Tier.VIP, Decimal("1234.50"))
        assert policy.next_due_date == date(2026, 12, 1) and policy.sales_agent is not None
        assert policy.sales_agent.branch == "北京分公司"
        assert session.scalar(select(SalesAgent.status).where(SalesAgent.agent_code == "AG0002")) \
            is AgentStatus.TERMINATED
        phones = set(session.execute(select(CustomerPhone.number, CustomerPhone.extension, CustomerPhone.kind)
                                     .join(Customer).where(Customer.customer_no == "C2")))
    assert phones == {("+8613912345678", "", PhoneKind.MOBILE), ("+861062345678", "", PhoneKind.HOME),
                      ("+862161234567", "801", PhoneKind.WORK)}


def test_examples_in_docs_import_cleanly(database_url: str, tmp_path: Path) -> None:
    agents, customers, policies = re.findall(r"```csv\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)

    report = _import(_book(tmp_path, agents, customers, policies))

    assert report.problems == [] and _counts(report) == [(2, 0, 0, 0), (3, 0, 0, 0), (3, 0, 0, 0)]


def test_utf8_file_with_byte_order_mark_is_read(database_url: str, tmp_path: Path) -> None:
    files = BookFiles(customers=_write(tmp_path, "customers.csv", CUSTOMERS, encoding="utf-8-sig"))

    assert _counts(_import(files)) == [(3, 0, 0, 0)]


def test_bad_rows_are_named_by_file_line_and_reason_and_nothing_is_imported(
        database_url: str, tmp_path: Path) -> None:
    customers = CUSTOMERS + (
        "C4,王五,male,1990-13-40,110105199001011234,zh,standard,13800138004,,\n"
        "\n"
        "C5,赵六,male,1970-01-01,G12345678,zh,standard,12345,,\n"
        "C1,张伟,male,1985-03-12,110105198503121234,zh,vip,,,\n")
    files = _book(tmp_path, customers=customers)

    report = _import(files)

    assert not report.written
    assert [str(problem) for problem in report.problems] == [
        f"{files.customers}:5: birth_date '1990-13-40' is not a date (YYYY-MM-DD)",
        f"{files.customers}:7: mobile '12345': 12345 is not a Chinese mobile number (11 digits, 13x-19x)",
        f"{files.customers}:8: customer_no 'C1' repeats line 2",
    ]
    assert (_count(SalesAgent), _count(Customer), _count(Policy)) == (0, 0, 0)


@pytest.mark.parametrize("row, reason", [
    ("8810000009,C1,life,,in_force,-5,10,monthly,2020-01-01,,,,", "sum_insured '-5' must be a positive amount"),
    ("8810000009,C1,life,,in_force,5,10.001,monthly,2020-01-01,,,,", "premium '10.001' must be a positive amount"),
    ("8810000009,C1,boat,,in_force,5,10,monthly,2020-01-01,,,,", "product_line 'boat' is not one of: life"),
    ("8810000009,C1,life,,active,5,10,monthly,2020-01-01,,,,", "status 'active' is not one of: in_force"),
    ("8810000009,C1,life,,in_force,5,10,weekly,2020-01-01,,,,", "payment_frequency 'weekly' is not one of"),
    ("8810000009,C1,life,,in_force,5,10,monthly,2020-01-01,2019-01-01,,,", "end_date 2019-01-01 is before"),
    ("8810000009,C1,life,,in_force,5,10,monthly,,,,,", "start_date is empty"),
    ("8810000009,C1,life,,in_force,5,10,monthly,2020-01-01,,,,AG0001,extra", "has 14 fields, the header has 13"),
    ("8810000009,C9,life,,in_force,5,10,monthly,2020-01-01,,,,", "customer_no 'C9' is neither in the database"),
    ("8810000009,C1,life,,in_force,5,10,monthly,2020-01-01,,,,AG9", "agent_code 'AG9' is neither in the database"),
])
def test_bad_policy_row_is_rejected_with_its_reason(database_url: str, tmp_path: Path, row: str, reason: str) -> None:
    report = _import(_book(tmp_path, policies=POLICIES + row + "\n"))

    assert len(report.problems) == 1
    assert report.problems[0].line == 5 and reason in report.problems[0].reason


def test_bad_customer_national_id_is_rejected_without_repeating_it(database_url: str, tmp_path: Path) -> None:
    row = "C4,王五,male,1990-01-01,110105199001011230,zh,standard,13800138004,,\n"

    [problem] = _import(_book(tmp_path, customers=CUSTOMERS + row)).problems

    assert "check digit 0, expected" in problem.reason and "110105199001011230" not in problem.reason


def test_skip_invalid_imports_the_good_rows_and_reports_the_bad(database_url: str, tmp_path: Path) -> None:
    customers = CUSTOMERS + "C4,王五,male,1990-13-40,110105199001011234,zh,standard,,,\n"
    policies = POLICIES + "8810000004,C4,life,,in_force,5,10,monthly,2020-01-01,,,,\n"

    report = _import(_book(tmp_path, customers=customers, policies=policies), skip_invalid=True)

    assert report.written
    assert [(problem.line, problem.reason.split(" ")[0]) for problem in report.problems] == [
        (5, "birth_date"), (5, "customer_no")]  # the policy of the rejected customer cannot be linked
    assert _counts(report) == [(2, 0, 0, 0), (3, 0, 0, 1), (3, 0, 0, 1)]
    assert (_count(Customer), _count(Policy)) == (3, 3)


def test_reimport_is_idempotent_and_updates_changed_fields(database_url: str, tmp_path: Path) -> None:
    _import(_book(tmp_path))

    again = _import(_book(tmp_path))
    changed = _import(_book(tmp_path, customers=CUSTOMERS.replace("Emma Wilson", "Emma Clarke")
                             .replace("0086-13712345678,,", "13712345678,,010 87654321 ext 12"),
                             policies=POLICIES.replace("in_force,500000.00,1234.50", "grace,500000.00,1300")))

    assert _counts(again) == [(0, 0, 2, 0), (0, 0, 3, 0), (0, 0, 3, 0)]
    assert _counts(changed) == [(0, 0, 2, 0), (0, 1, 2, 0), (0, 1, 2, 0)]
    assert (_count(SalesAgent), _count(Customer), _count(CustomerPhone), _count(Policy)) == (2, 3, 7, 3)
    with session_scope() as session:
        emma = session.scalars(select(Customer).where(Customer.customer_no == "C3")).one()
        assert emma.name == "Emma Clarke"
        assert {(p.number, p.extension) for p in emma.phones} == {("+8613712345678", ""), ("+861087654321", "12")}
        policy = find_policy(session, "8810000001")
        assert policy is not None and (policy.status, policy.premium) == (PolicyStatus.GRACE, Decimal("1300"))


def test_removed_phone_is_removed_on_reimport(database_url: str, tmp_path: Path) -> None:
    _import(_book(tmp_path))

    _import(_book(tmp_path, customers=CUSTOMERS.replace(",021-61234567-801", ",")))

    assert _count(CustomerPhone) == 5


def test_national_id_is_stored_only_as_salted_hash_and_last_four(database_url: str, tmp_path: Path) -> None:
    _import(_book(tmp_path))

    with session_scope() as session:
        c2 = session.scalars(select(Customer).where(Customer.customer_no == "C2")).one()
        dump = "\n".join(str(row) for table in ("customers", "customer_phones")
                         for row in session.execute(text(f"SELECT * FROM {table}")))
    assert c2.national_id_last4 == "008X" and c2.national_id_hash.startswith("pbkdf2_sha256$")
    for raw in ("110105198503121234", "31010419900701008", "E12345678"):
        assert raw not in dump


def test_phone_shared_by_two_customers_recognises_neither(database_url: str, tmp_path: Path) -> None:
    _import(_book(tmp_path))

    with session_scope() as session:
        assert find_customer_by_phone(session, "01062345678") is None  # C1 and C2's family landline
        recognised = find_customer_by_phone(session, "+8613800138001")
        assert recognised is not None and recognised.customer_no == "C1"


def test_file_that_is_not_utf8_is_refused_whole(database_url: str, tmp_path: Path) -> None:
    files = BookFiles(customers=_write(tmp_path, "customers.csv", CUSTOMERS, encoding="gbk"))

    with pytest.raises(BookFileError, match="not UTF-8 text.*iconv -f GBK"):
        _import(files, skip_invalid=True)


@pytest.mark.parametrize("header, message", [
    ("customer_no,name,birth_date", "customers.csv:1: missing columns: national_id"),
    ("customer_no,name,birth_date,national_id,email", "customers.csv:1: unknown columns: email"),
    ("customer_no,name,name,birth_date,national_id", "customers.csv:1: repeated columns: name"),
    ("", "customers.csv:1: the file is empty"),
])
def test_file_with_bad_header_is_refused_whole(database_url: str, tmp_path: Path, header: str, message: str) -> None:
    files = BookFiles(customers=_write(tmp_path, "customers.csv", header + "\n" if header else ""))

    with pytest.raises(BookFileError, match=re.escape(message)):
        _import(files, skip_invalid=True)


def test_cli_import_with_bad_rows_prints_them_and_exits_non_zero(database_url: str, tmp_path: Path) -> None:
    files = _book(tmp_path, customers=CUSTOMERS + "C4,王五,male,1990-13-40,110105199001011234,zh,,,,\n")

    result = CliRunner().invoke(main, ["--database-url", database_url, "import", "--agents", str(files.agents),
                                       "--customers", str(files.customers), "--policies", str(files.policies)])

    assert result.exit_code == 1
    assert f"{files.customers}:5: birth_date '1990-13-40' is not a date (YYYY-MM-DD)" in result.output
    assert "nothing imported" in result.output and _count(Customer) == 0


def test_cli_import_refuses_a_binary_or_an_oversized_file_with_a_clear_message(database_url: str,
                                                                              tmp_path: Path) -> None:
    binary = tmp_path / "customers.csv"
    binary.write_bytes(CUSTOMERS.encode()[:40] + b"\x00\x01\xff" * 100)
    big = _write(tmp_path, "policies.csv", POLICIES + "\n" * (1024 * 1024))
    set_settings(get_settings().replace(import_max_megabytes=1))

    refused = [CliRunner().invoke(main, ["--database-url", database_url, "import", option, str(path)])
               for option, path in (("--customers", binary), ("--policies", big))]

    assert [result.exit_code for result in refused] == [1, 1]
    assert f"{binary}: a binary file (it holds NUL bytes), not a CSV text export" in refused[0].output
    assert f"{big}: 1 MB is over the 1 MB an import accepts (setting import_max_megabytes)" in refused[1].output
    assert "Traceback" not in refused[0].output + refused[1].output and _count(Customer) == 0


def test_cli_dry_run_counts_but_writes_nothing(database_url: str, tmp_path: Path) -> None:
    files = _book(tmp_path)

    result = CliRunner().invoke(main, ["--database-url", database_url, "import", "--dry-run",
                                       "--agents", str(files.agents), "--customers", str(files.customers)])

    assert result.exit_code == 0, result.output
    assert re.search(rf"{re.escape(str(files.customers))}\s+3\s+0\s+0\s+0", result.output)
    assert "dry run" in result.output and _count(Customer) == 0


def test_cli_import_without_files_is_a_usage_error(database_url: str) -> None:
    result = CliRunner().invoke(main, ["--database-url", database_url, "import"])

    assert result.exit_code == 2 and "at least one file" in result.output


def test_a_customer_time_zone_is_imported_and_an_unknown_one_is_named_by_its_line(
        database_url: str, tmp_path: Path) -> None:
    zoned = CUSTOMERS.replace("language,tier,", "language,time_zone,tier,").replace(",zh,", ",zh,,").replace(
        ",en,standard", ",en,Europe/London,standard")
    bad = zoned.replace("Europe/London", "Mars/Olympus_Mons")

    refused = _import(_book(tmp_path, customers=bad))
    imported = _import(_book(tmp_path, customers=zoned))

    assert str(refused.problems[0]) == (f"{tmp_path / 'customers.csv'}:4: time_zone 'Mars/Olympus_Mons' is not an "
                                        "IANA time zone (for example Asia/Shanghai)")
    assert not refused.written
    assert imported.problems == []
    with session_scope() as session:
        zones = dict(session.execute(select(Customer.customer_no, Customer.time_zone)).all())
    assert zones == {"C1": "", "C2": "", "C3": "Europe/London"}
