"""import_leads FILE: CSV or JSONL backfills; bad rows are reported by line and skipped."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from pipeline import engine
from pipeline.models import Lead, PipelineRun, Submission
from tests.intake_helpers import make_source

pytestmark = pytest.mark.django_db

BROKEN_CSV = (
    "Full Name,Email,Company,Message,Plan\n"  # line 1
    "Ana López,ana@example.org,Acme,Hello,pro\n"  # line 2
    "Bad Email,not-an-email,Acme,Hi,\n"  # line 3
    '"Multi Line",multi@example.org,Acme,"first line\n'  # line 4
    'second line",\n'  # line 5
    "\n"  # line 6: blank, skipped
    "Too,many@example.org,columns,a,b,c\n"  # line 7
    "No Contact,,Acme,hi,\n"  # line 8
    "Sam,sam@example.org,,,\n"  # line 9
)


class Terminal(StringIO):
    def isatty(self):
        return True


def run_import(*args, stdout=None):
    stdout = stdout or StringIO()
    stderr = StringIO()
    error = None
    try:
        call_command("import_leads", *args, stdout=stdout, stderr=stderr)
    except CommandError as raised:
        error = raised
    return stdout.getvalue(), stderr.getvalue(), error


@pytest.fixture
def broken_csv(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text(BROKEN_CSV, encoding="utf-8")
    return path


def test_good_rows_are_imported_and_bad_rows_reported_by_line(broken_csv):
    out, err, error = run_import(str(broken_csv))

    assert err.splitlines() == [
        "line 3: email: not a valid email address: An email address must have an @-sign.",
        "line 7: 6 values but the header has 5 columns",
        "line 8: email: an email or a phone number is required; "
        "phone: an email or a phone number is required",
    ]
    assert "3 row(s) were not imported" in str(error)
    assert "Imported 3 of 6 rows: 3 new leads, 0 known leads; 3 runs queued; 3 errors." in out
    assert sorted(Lead.objects.values_list("email", flat=True)) == [
        "ana@example.org",
        "multi@example.org",
        "sam@example.org",
    ]
    assert Submission.objects.get(email="multi@example.org").message == "first line\nsecond line"
    assert PipelineRun.objects.count() == 3
    assert set(Submission.objects.values_list("channel", flat=True)) == {"import"}


def test_extra_columns_become_custom_fields_and_empty_cells_are_dropped(broken_csv):
    run_import(str(broken_csv))

    assert Submission.objects.get(email="ana@example.org").custom_fields == {"Plan": "pro"}
    assert Submission.objects.get(email="sam@example.org").custom_fields == {}
    assert Submission.objects.get(email="ana@example.org").name == "Ana López"


def test_columns_can_be_mapped_to_our_fields(tmp_path):
    path = tmp_path / "crm-export.csv"
    path.write_text("Contact,Mail,Org\nKim,kim@example.org,Kimco\n", encoding="utf-8")

    _, err, error = run_import(str(path), "--map", "Mail=email", "--map", "Org=company")

    assert error is None and err == ""
    submission = Submission.objects.get()
    assert (submission.email, submission.company) == ("kim@example.org", "Kimco")
    assert submission.custom_fields == {"Contact": "Kim"}


def test_a_mapping_to_an_unknown_field_is_refused_before_reading(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("Mail\nkim@example.org\n", encoding="utf-8")

    _, _, error = run_import(str(path), "--map", "Mail=e-mail")

    assert "map to one of" in str(error)
    assert not Submission.objects.exists()


def test_jsonl_files_report_lines_that_are_not_json_objects(tmp_path):
    path = tmp_path / "leads.jsonl"
    lines = [
        json.dumps({"email": "a@example.org", "name": "Zoë", "seats": 12}),
        "{broken",
        "",
        "[1, 2]",
        json.dumps({"phone": "+44 20 7946 0958"}),
        '{"email": "b@example.org", "seats": ' + "1" * 4301 + "}",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    out, err, error = run_import(str(path))

    assert err.splitlines()[0].startswith("line 2: not valid JSON")
    assert err.splitlines()[1] == "line 4: expected a JSON object, got list"
    assert err.splitlines()[2] == "line 6: not valid JSON: a number of 4301 digits (at most 4300)"
    assert Submission.objects.get(email="a@example.org").custom_fields == {"seats": 12}
    assert Lead.objects.filter(phone_normalized="+442079460958").exists()
    assert "3 errors" in out


def test_a_row_that_is_not_utf8_is_reported_and_the_rest_imported(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"Name,Email\nJos\xe9,jose@example.org\nAna,ana@example.org\n")

    _, err, _ = run_import(str(path))

    assert err.strip() == "line 2: not UTF-8 text"
    assert Submission.objects.get().email == "ana@example.org"


def test_known_people_are_counted_as_known(tmp_path):
    path = tmp_path / "twice.csv"
    path.write_text("Email\nA@gmail.com\na+x@gmail.com\n", encoding="utf-8")

    out, _, _ = run_import(str(path))

    assert "1 new leads, 1 known leads" in out
    assert Lead.objects.count() == 1 and Submission.objects.count() == 2


def test_rows_can_be_attributed_to_a_source_and_use_its_mapping(tmp_path):
    source, _ = make_source("Old site", field_mapping={"Mail": "email"})
    path = tmp_path / "old.csv"
    path.write_text("Mail\nold@example.org\n", encoding="utf-8")

    run_import(str(path), "--source", source.slug)

    submission = Submission.objects.get()
    assert (submission.source, submission.email) == (source, "old@example.org")


def test_a_progress_bar_is_drawn_only_on_a_terminal(broken_csv):
    piped, _, _ = run_import(str(broken_csv))
    Submission.objects.all().delete()
    on_terminal, _, _ = run_import(str(broken_csv), stdout=Terminal())

    assert "\r[" not in piped
    assert "\r[##############################] 6/6 100%" in on_terminal


def test_a_missing_file_is_a_clear_error(tmp_path):
    _, _, error = run_import(str(tmp_path / "nope.csv"))

    assert "cannot read" in str(error)


@pytest.mark.django_db(transaction=True)
def test_inline_runs_each_lead_s_pipeline_here(tmp_path, monkeypatch):
    path = tmp_path / "inline.csv"
    path.write_text("Email\na@example.org\nb@example.org\n", encoding="utf-8")
    ran: list[tuple[int, int]] = []

    def run_inline(pipeline, *, lead, submission, options=None):
        ran.append((lead.pk, submission.pk))
        return PipelineRun.objects.create(
            lead=lead, submission=submission, pipeline_name="lead", pipeline_version=1
        )

    monkeypatch.setattr(engine, "run_inline", run_inline)
    out, _, error = run_import(str(path), "--inline")

    assert error is None and "2 runs processed" in out
    assert len(ran) == 2
    for submission in Submission.objects.all():
        assert submission.response["run_id"] == submission.runs.get().pk


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("made_a_run", [False, True])
def test_a_row_stored_whose_inline_run_failed_is_imported_and_left_to_the_workers(
    tmp_path, monkeypatch, made_a_run
):
    """It was reported as not imported, though its lead was made, and no sweep ever ran it."""
    from pipeline.intake.receive import unanswered

    path = tmp_path / "inline.csv"
    path.write_text("Email\na@example.org\n", encoding="utf-8")

    def run_inline(pipeline, *, lead, submission, options=None):
        if made_a_run:
            PipelineRun.objects.create(
                lead=lead, submission=submission, pipeline_name="lead", pipeline_version=1
            )
        raise RuntimeError("the database went away")

    monkeypatch.setattr(engine, "run_inline", run_inline)
    out, err, error = run_import(str(path), "--inline")

    submission = Submission.objects.get()
    assert error is None and "Imported 1 of 1 rows: 1 new leads" in out
    assert err.strip() == (
        f"line 2: stored as lead {submission.lead_id}, but running it here failed "
        "(RuntimeError; see the log): the workers run it"
    )
    if made_a_run:  # its steps are the sweep's now
        assert submission.response["run_id"] == submission.runs.get().pk
    else:  # the sweep starts its run
        assert submission.response == {} and unanswered()["count"] == 1


# --- Files that would lose rows or values without saying so (found by an import audit) --------


def test_a_quote_that_never_closes_refuses_the_file_naming_its_line(tmp_path):
    """Else every row after it is read as part of one message: neither imported nor reported."""
    path = tmp_path / "open-quote.csv"
    path.write_text(
        'Email,Name,Message\na@example.org,A,ok\nb@example.org,B,"hello\n'
        "c@example.org,C,hi\nd@example.org,D,hi\n",
        encoding="utf-8",
    )

    _, _, error = run_import(str(path))

    assert "line 3: a quoted value opens here and never closes" in str(error)
    assert not Submission.objects.exists()


def test_quotes_that_close_on_a_later_line_are_still_one_value(tmp_path):
    path = tmp_path / "multi-line.csv"
    path.write_text('Email,Message\na@example.org,"two\nlines"\nb@example.org,hi\n', "utf-8")

    run_import(str(path))

    assert Submission.objects.get(email="a@example.org").message == "two\nlines"
    assert Submission.objects.filter(email="b@example.org").exists()


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("Email,Notes,Notes\na@example.org,first,second\n", "names the column 'Notes' twice"),
        (
            "a@example.org,Ana,Acme\nb@example.org,Ben,Bolt\n",
            "holds an email address, so it is a lead",
        ),
    ],
    ids=["duplicate-column", "no-header"],
)
def test_a_header_that_would_lose_values_refuses_the_file(tmp_path, content, says):
    path = tmp_path / "header.csv"
    path.write_text(content, encoding="utf-8")

    _, _, error = run_import(str(path))

    assert says in str(error)
    assert not Submission.objects.exists()


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("\ufeffEmail,Name\na@example.org,Ana\n".encode("utf-16"), "the file is UTF-16"),
        ("Émail,Name\na@example.org,Ana\n".encode("latin-1"), "the header row is not UTF-8"),
    ],
    ids=["utf-16", "latin-1-header"],
)
def test_a_file_in_another_encoding_is_named_as_the_problem(tmp_path, content, says):
    path = tmp_path / "encoded.csv"
    path.write_bytes(content)

    _, _, error = run_import(str(path))

    assert says in str(error)
    assert not Submission.objects.exists()


def test_a_value_under_an_unnamed_column_is_reported_not_dropped(tmp_path):
    path = tmp_path / "unnamed.csv"
    path.write_text(
        "Email,Name,\na@example.org,Ana,call after 5pm\nb@example.org,Ben,\n", encoding="utf-8"
    )

    _, err, _ = run_import(str(path))

    assert err.strip() == "line 2: a value in column 3, which the header leaves unnamed"
    assert list(Submission.objects.values_list("email", flat=True)) == ["b@example.org"]


def test_a_jsonl_object_with_a_key_twice_is_reported_not_half_kept(tmp_path):
    path = tmp_path / "twice.jsonl"
    path.write_text(
        '{"email": "a@example.org", "note": "keep me", "note": "other"}\n'
        '{"email": "b@example.org", "note": "fine"}\n',
        encoding="utf-8",
    )

    _, err, _ = run_import(str(path))

    assert err.strip() == "line 1: the key 'note' appears twice: keep one"
    assert list(Submission.objects.values_list("email", flat=True)) == ["b@example.org"]


def test_a_jsonl_file_with_classic_mac_line_ends_is_read_record_by_record(tmp_path):
    path = tmp_path / "mac.jsonl"
    records = [{"email": "a@example.org"}, {"email": "b@example.org"}, "{broken"]
    path.write_bytes(
        "\r".join(r if isinstance(r, str) else json.dumps(r) for r in records).encode()
    )

    out, err, _ = run_import(str(path))

    assert err.strip().startswith("line 3: not valid JSON")
    assert sorted(Submission.objects.values_list("email", flat=True)) == [
        "a@example.org",
        "b@example.org",
    ]


def test_importing_a_file_again_after_a_stop_part_way_imports_only_the_rows_not_yet_imported(
    tmp_path,
):
    header, rows = "Name,Email,Message\n", [f"P{n},p{n}@example.org,Hello {n}\n" for n in range(4)]
    (tmp_path / "first-half.csv").write_text(header + "".join(rows[:2]), encoding="utf-8")
    (tmp_path / "all.csv").write_text(header + "".join(rows), encoding="utf-8")
    run_import(str(tmp_path / "first-half.csv"))  # the first run stopped after two rows

    out, err, error = run_import(str(tmp_path / "all.csv"))

    assert (err, error) == ("", None)
    assert "Imported 2 of 4 rows: 2 new leads, 0 known leads; 2 imported before (skipped); " in out
    assert Submission.objects.count() == 4 and PipelineRun.objects.count() == 4
    assert sorted(Lead.objects.values_list("email", flat=True)) == [
        f"p{n}@example.org" for n in range(4)
    ]


def test_a_row_given_twice_or_read_under_another_mapping_is_imported_and_again_imports_all(
    tmp_path,
):
    path = tmp_path / "leads.csv"
    path.write_text("Name,Mail\nAna,ana@example.org\nAna,ana@example.org\n", encoding="utf-8")

    out, _, _ = run_import(str(path), "--map", "Mail=email")
    assert "Imported 1 of 2 rows: 1 new leads, 0 known leads; 1 imported before" in out
    assert Submission.objects.count() == 1

    # Read under another mapping the row says something else: it is imported.
    out, _, _ = run_import(str(path), "--map", "Mail=email", "--map", "Name=company")
    assert "Imported 1 of 2 rows: 0 new leads, 1 known leads; 1 imported before" in out

    out, _, _ = run_import(str(path), "--map", "Mail=email", "--again")
    assert "Imported 2 of 2 rows: 0 new leads, 2 known leads; 2 runs queued; 0 errors." in out
    assert Submission.objects.count() == 4 and PipelineRun.objects.count() == 4


def test_an_inline_import_run_again_runs_nothing_again(tmp_path, monkeypatch):
    path = tmp_path / "inline.csv"
    path.write_text("Email,Message\nana@example.org,Pricing for 40 seats?\n", encoding="utf-8")
    run_import(str(path), "--inline")
    assert PipelineRun.objects.count() == 1

    def must_not_run(*args, **kwargs):
        raise AssertionError("a row imported before was run again")

    monkeypatch.setattr(engine, "run_inline", must_not_run)
    out, err, error = run_import(str(path), "--inline")

    assert (err, error) == ("", None)
    assert "Imported 0 of 1 rows: 0 new leads, 0 known leads; 1 imported before (skipped); " in out
    assert Submission.objects.count() == 1 and PipelineRun.objects.count() == 1


def test_a_large_file_is_read_as_it_is_imported_not_held_in_memory(tmp_path):
    import tracemalloc

    from pipeline.intake.batch import read_rows

    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as handle:
        handle.write("\ufeffName,Email,Message\n")  # Excel's "CSV UTF-8" starts with a BOM
        for n in range(10_000):
            handle.write(f'P{n},p{n}@example.org,"Hello,\nwe need {n} seats"\n')
    tracemalloc.start()
    try:
        with read_rows(path) as rows:
            last = None
            for last in rows:  # noqa: B007 - the last row is the point
                assert set(last.data) == {"Name", "Email", "Message"}
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert len(rows) == 10_000
    assert (last.line, last.data["Email"]) == (1 + 2 * 9_999 + 1, "p9999@example.org")
    # The whole text alone would take the file's size; the rows, several times that.
    assert peak < path.stat().st_size / 4, (peak, path.stat().st_size)


def test_a_file_given_through_a_pipe_is_read_once_and_all_of_it_kept(tmp_path):
    """`import_leads /dev/stdin` or `<(…)`: a pipe can be read only once."""
    import os
    import threading

    from pipeline.intake.batch import read_rows

    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    writer = threading.Thread(
        target=lambda: pipe.write_text("Email\na@example.org\nb@example.org\n", encoding="utf-8"),
        daemon=True,
    )
    writer.start()
    results = []
    # A reader that opens the pipe a second time waits for a writer for ever: not this test.
    reader = threading.Thread(target=lambda: results.append(read_rows(pipe)), daemon=True)
    reader.start()
    reader.join(20)
    assert results, "the reader still waits on the pipe"
    with results[0] as rows:
        assert len(rows) == 2
        assert [row.data for row in rows] == [
            {"Email": "a@example.org"},
            {"Email": "b@example.org"},
        ]


def test_the_rows_read_are_those_of_the_file_checked_even_if_another_is_put_at_its_path(
    tmp_path,
):
    from pipeline.intake.batch import read_rows

    path = tmp_path / "leads.csv"
    path.write_text("Email,Name\na@example.org,A\nb@example.org,B\n", encoding="utf-8")
    with read_rows(path) as rows:
        # An export renamed into place meanwhile, with a quote that never closes.
        replacement = tmp_path / "new.csv"
        replacement.write_text('Email,Name\nc@example.org,"C\nd@example.org,D\n', encoding="utf-8")
        replacement.replace(path)

        assert [row.data["Email"] for row in rows] == ["a@example.org", "b@example.org"]


def test_a_row_stored_by_an_inline_import_that_could_not_run_it_is_left_to_the_sweep_on_a_rerun(
    tmp_path, monkeypatch
):
    path = tmp_path / "inline.csv"
    path.write_text("Email\na@example.org\n", encoding="utf-8")

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(engine, "run_inline", broken)
    run_import(str(path), "--inline")
    assert Submission.objects.unanswered().count() == 1

    out, err, error = run_import(str(path), "--inline")

    assert (err, error) == ("", None)
    assert "1 imported before (skipped)" in out
    assert Submission.objects.count() == 1
    assert Submission.objects.unanswered().count() == 1  # still the sweep's to start


def test_a_row_of_an_erased_person_keeps_no_key_and_imports_again_as_new(tmp_path):
    from pipeline.erase import erase_person

    path = tmp_path / "leads.csv"
    path.write_text("Email,Name\nana@example.org,Ana\n", encoding="utf-8")
    run_import(str(path))
    erase_person("ana@example.org")
    assert Submission.objects.get().sender_key == ""

    out, err, error = run_import(str(path))

    assert (err, error) == ("", None)
    assert "Imported 1 of 1 rows: 1 new leads" in out
