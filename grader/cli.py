"""The ``grade`` command: a thin click layer over discover -> batch -> results -> terminal."""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import replace
from pathlib import Path

import click

from grader import (
    __version__,
    adjust,
    batch,
    ci,
    discover,
    gradescope,
    html_report,
    report,
    results,
    review,
    sheets,
    terminal,
)
from grader.convention import SETTINGS, staff_hint
from grader.discover import printable
from grader.rubric import FC_NET_MODES, Question, Rubric, RubricError, load_extra_checks
from grader.rubric import load as load_rubric
from grader.sandbox import containment
from grader.settings import Limits, Settings

REFERENCE = Path(__file__).resolve().parent.parent / "reference"
ROSTER = click.option(
    "--roster", type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="CSV with an id column, then any of name, email: names in the gradebook and report; "
         "rostered students without a submission are 'missing'.")


class DefaultGroup(click.Group):
    """A group whose first argument, when it is not a command name, goes to ``run``:
    ``grade submissions/`` means ``grade run submissions/``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "--version"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=DefaultGroup)
@click.version_option(__version__, prog_name="dropout-grader")
def main() -> None:
    """Grade CS231n dropout submissions. `grade PATH` is `grade run PATH`."""


@main.command()
@click.argument("path", type=click.Path(path_type=Path), required=False)
@click.option("--out", type=click.Path(path_type=Path), default=Path("grading"),
              show_default=True, help="Folder for results.json files and grades.csv.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=os.cpu_count() or 1,
              show_default="number of cores", help="Submissions graded in parallel.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=Limits.timeout,
              show_default=True,
              help="Seconds the student's code may take for the import and for each check's "
                   "calls (one round trip).")
@click.option("--memory", type=click.IntRange(min=64), default=Limits.memory >> 20,
              show_default=True, metavar="MiB", help="Address-space limit of each child.")
@click.option("--force", is_flag=True,
              help="Regrade every submission, even those unchanged since the last run.")
@click.option("--convention", type=click.Choice(SETTINGS),
              help="What p means: keep (2018 onwards) or drop (2016-2017), for the layer and "
                   "the net alike; auto: what each submission's own starter text says (for a "
                   "class of several years). Default: the rubric's (keep).")
@click.option("--rubric", type=click.Path(path_type=Path, dir_okay=False),
              help="A rubric TOML overriding the default points, titles, visibility.")
@click.option("--single/--each", default=None,
              help="Grade PATH as one submission, or each entry of PATH as one "
                   "(default: decided by what PATH holds).")
@click.option("--fail-under", type=click.FloatRange(0, 100), metavar="PERCENT",
              help="Exit with status 1 if a submission scores below PERCENT.")
@click.option("--extra-checks", multiple=True,
              type=click.Path(path_type=Path, exists=True, resolve_path=True),
              help="An instructor's own checks: a check_*.py file or a folder of them "
                   "(repeatable). Points, title and visibility come from their markers.")
@ROSTER
@click.option("--junit-xml", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write the checks as JUnit XML (for CI systems).")
@click.option("--self-check", is_flag=True,
              help="Grade the bundled reference solution; it must score 100%.")
@click.option("--starter", type=click.Path(path_type=Path, file_okay=False, exists=True,
                                          resolve_path=True),
              help="The course's starter code (the assignment's folder): each submission is "
                   "graded as if copied over it; its own files always win.")
@click.option("--sandbox", type=click.Choice(containment.MODES), default="auto",
              show_default=True,
              help="auto: the strongest containment this machine gives (the run says which); "
                   "strict: refuse to grade without full containment; none: plain processes.")
@click.option("--fc-net", type=click.Choice(FC_NET_MODES),
              help="When the checks of the student's FullyConnectedNet (the notebook's second "
                   "half) are graded: auto, where the submission holds "
                   "cs231n/classifiers/fc_net.py; required, for every submission; off, never. "
                   "Default: the rubric's (auto).")
def run(path: Path | None, out: Path, jobs: int, timeout: float, memory: int, force: bool,
        convention: str | None, rubric: Path | None, single: bool | None,
        fail_under: float | None, extra_checks: tuple[Path, ...], roster: Path | None,
        junit_xml: Path | None, self_check: bool, starter: Path | None, sandbox: str,
        fc_net: str | None) -> None:
    """Grade PATH: a submission (a .py, a .zip, or a folder holding cs231n/layers.py or
    layers.py), or a folder whose entries are submissions."""
    if self_check:
        if not REFERENCE.is_dir():
            raise click.UsageError("--self-check needs a clone of the repository (reference/)")
        path, single = REFERENCE, True
    if path is None:
        raise click.UsageError("missing PATH: the submission or folder of submissions to grade")
    try:
        checks = load_rubric(rubric, fc_net)
        load_extra_checks(list(extra_checks), checks.ids)
        submissions, skipped = discover.find_submissions(path, single)
    except (RubricError, discover.DiscoveryError) as err:
        raise click.UsageError(str(err)) from err
    if out.exists() and not out.is_dir():
        raise click.UsageError(f"--out {out} is a file, not a folder")
    if skipped:
        click.echo(f"skipped what is not a submission (a folder, .py or .zip): "
                   f"{', '.join(skipped)}", err=True)
    for submission in submissions:
        if submission.note:
            click.echo(submission.note, err=True)
    alone = submissions[0].path == path.resolve()  # PATH itself, not a folder of them
    if single is None and alone and (lone := discover.lone_definer(path)) is not None:
        click.echo(f"grading {printable(str(path))} as one submission: "
                   f"{printable(str(lone.relative_to(path)))} is "
                   "the only file under it that defines dropout_forward (--each grades each "
                   "entry instead)", err=True)
    settings = Settings(limits=replace(Limits(), timeout=timeout, memory=memory << 20),
                        rubric_path=rubric, convention=convention, extra_checks=extra_checks,
                        starter=starter, sandbox=sandbox, fc_net=fc_net)
    fingerprint = settings.fingerprint()
    if not alone:  # a class: the questions its staff grade with `grade review`
        review.record_questions(out, checks)
    _staff_grades_readable(out, checks)
    todo = [s for s in submissions if force or not results.is_current(out, s, fingerprint)]
    if len(todo) < len(submissions):
        click.echo(f"{len(submissions) - len(todo)} unchanged since the last run into {out}, "
                   "not regraded (--force regrades them)", err=True)
    if todo:
        # The class report's libraries load while the batch is graded, once it is under way.
        preload = not alone and html_report.available()
        with terminal.progress(len(todo), sys.stderr) as shown:

            def on_result(_id: str) -> None:
                nonlocal preload
                shown.advance()
                if preload:
                    html_report.preload()
                    preload = False

            def on_containment(found: containment.Containment) -> None:
                shown.say(found.describe())

            try:
                batch.grade(todo, out, settings, jobs, on_result=on_result,
                            on_containment=on_containment)
            except containment.ContainmentError as err:
                raise click.UsageError(str(err)) from err
    names = _roster(roster)
    _sync_staff_grades(out, checks)  # the gradebook is written next
    ids = {s.id for s in submissions}
    graded = [row for row in results.write_gradebook(out, checks, names) if row.id in ids]
    if len(submissions) == 1:
        click.echo(terminal.feedback(results.read(out, graded[0].id)))
    else:
        click.echo(terminal.table(graded))
    if hint := staff_hint({row.id: row.p for row in graded}):
        click.echo(f"\nCourse staff: {hint}")
    for row in graded:
        if row.staff_hint:
            click.echo(f"Course staff: {row.id}: {row.staff_hint}")
    click.echo(f"\nresults: {out}/<id>/results.json, gradebook: {out / results.GRADEBOOK}")
    _report_to_ci(submissions, out, junit_xml)
    if not alone:  # a folder of submissions: the instructor's batch
        _class_report(out, names)
    if self_check and graded[0].score < graded[0].max_score:
        raise SystemExit(1)
    if fail_under is not None and any(
            r.score < fail_under / 100 * r.max_score for r in graded):
        raise SystemExit(1)


def _report_to_ci(submissions: list[discover.Submission], out: Path,
                  junit_xml: Path | None) -> None:
    """GitHub Actions' job summary and annotations when running there; JUnit XML if asked."""
    on_github = os.environ.get("GITHUB_ACTIONS") == "true"
    if not (on_github or junit_xml):
        return
    graded = [(results.read(out, s.id), s.path) for s in submissions]
    graded = [(r, p) for r, p in graded if r is not None]
    if on_github:
        for line in ci.write_github(graded):
            click.echo(line)
    if junit_xml:
        results.write_atomic(junit_xml, ci.junit_xml([r for r, _ in graded]))


@main.command("adjust")
@click.argument("out", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.argument("sub_id", metavar="ID")
@click.option("--check", help="The check whose points change (its id); without it, the total.")
@click.option("--points", type=float, required=True,
              help="Points to give (negative: to take); a check stays within 0 and its maximum.")
@click.option("--reason", required=True,
              help="Why: the student reads it in their feedback, the staff in the gradebook.")
@click.option("--rubric", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="The rubric OUT was graded with (default: the grader's own).")
def adjust_command(out: Path, sub_id: str, check: str | None, points: float, reason: str,
                   rubric: Path | None) -> None:
    """Give or take points on one check, or on the total, of the submission ID graded into
    OUT, with a reason. Kept in OUT/adjustments.json: every later run into OUT keeps it."""
    found = results.read(out, sub_id)
    if found is None:
        raise click.UsageError(f"{out} holds no result of {sub_id!r}")
    if check is not None and check not in {c.id for c in found.checks}:
        raise click.UsageError(f"{sub_id} was not graded on a check {check!r}: one of "
                               f"{', '.join(c.id for c in found.checks)}")
    checks = load_rubric(rubric)
    adjust.add(out, adjust.Adjustment(sub_id, check or adjust.TOTAL, points, reason))
    result = review.regrade(out, sub_id, checks)
    results.write_gradebook(out, checks)
    if result is not None:
        click.echo(f"{sub_id}: {result.score:g} / {result.max_score:g} ({check or 'total'} "
                   f"{points:+g}: {reason})")


def _question(out: Path, question_id: str) -> tuple[Question, tuple[Question, ...]]:
    asked = review.questions(out)
    found = next((q for q in asked if q.id == question_id), None)
    if found is None:
        raise click.UsageError(f"no question {question_id!r}: one of "
                               f"{', '.join(q.id for q in asked)}")
    return found, asked


@main.command("review")
@click.argument("out", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default="a free one",
              help="The port on 127.0.0.1 to serve the page on.")
@click.option("--rubric", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="A rubric whose questions (points, titles, key points) to grade with "
                   "(default: those OUT was graded with).")
def review_command(out: Path, port: int, rubric: Path | None) -> None:
    """Serve the staff's page for grading the written answers of the class graded into OUT:
    question by question, in groups of identical answers. Every change is saved at once into
    OUT/reviews/; every later `grade`, `grade summary` and `grade report` shows the scores."""
    from grader import review_server

    checks = load_rubric(rubric)
    if rubric is not None:
        review.record_questions(out, checks)
    asked = review.questions(out)
    if not asked:
        raise click.UsageError("the rubric has no [questions.<id>] to grade")
    app = review_server.ReviewApp(out, checks, asked)
    server = review_server.serve(app, port)
    click.echo("The written answers of the class, for the course staff only (the address "
               "holds the token: do not share it):")
    click.echo(f"  {review_server.address(server, app)}")
    click.echo("Every change is saved at once. Ctrl-C stops the page.", err=True)
    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    for closed in (signal.SIGTERM, signal.SIGHUP):  # a kill, a closed terminal: as Ctrl-C
        if signal.getsignal(closed) is not signal.SIG_IGN:  # nohup's stays
            signal.signal(closed, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        for closed in (signal.SIGINT, signal.SIGTERM):  # the last merge is not cut short
            signal.signal(closed, signal.SIG_IGN)
        server.server_close()
        _sync_staff_grades(out, checks)
        results.write_gradebook(out, checks)


@main.group()
def sheet() -> None:
    """One question's answer groups as a spreadsheet (for teams that grade there)."""


@sheet.command("export")
@click.argument("out", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.argument("question")
@click.argument("csv_path", metavar="CSV", type=click.Path(path_type=Path, dir_okay=False))
def sheet_export(out: Path, question: str, csv_path: Path) -> None:
    """Write QUESTION's answer groups in OUT to CSV: fill in score and comment, then import."""
    found, asked = _question(out, question)
    results.write_atomic(csv_path, sheets.export(out, found, asked))
    click.echo(f"wrote {csv_path}")


@sheet.command("import")
@click.argument("out", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.argument("question")
@click.argument("csv_path", metavar="CSV", type=click.Path(path_type=Path, dir_okay=False,
                                                           exists=True))
def sheet_import(out: Path, question: str, csv_path: Path) -> None:
    """Grade QUESTION's groups in OUT from a sheet written by `grade sheet export`."""
    found, asked = _question(out, question)
    try:
        done = sheets.import_(out, found, asked, csv_path.read_text(encoding="utf-8-sig"))
    except (sheets.SheetError, review.ReviewError, UnicodeDecodeError) as err:
        raise click.UsageError(str(err)) from err
    _merge_staff_grades(out)
    click.echo(f"graded {done.students} students in {done.groups} groups"
               + (f"; {done.unknown} rows name a group no longer in the answers" if done.unknown
                  else ""))


@main.command("gradescope-bundle")
@click.argument("zip_path", metavar="AUTOGRADER_ZIP", type=click.Path(path_type=Path,
                                                                      dir_okay=False))
@click.option("--rubric", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="The rubric to grade with (default: the grader's own).")
@click.option("--extra-checks", multiple=True,
              type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="An instructor's check_*.py file to grade with too (repeatable).")
@click.option("--starter", type=click.Path(path_type=Path, file_okay=False, exists=True,
                                          resolve_path=True),
              help="The course's starter code, carried in the zip to grade each submission "
                   "over.")
def gradescope_bundle(zip_path: Path, rubric: Path | None, extra_checks: tuple[Path, ...],
                      starter: Path | None) -> None:
    """Build the zip to upload as a Gradescope programming assignment's autograder."""
    try:
        load_extra_checks(list(extra_checks), load_rubric(rubric).ids)
        names = gradescope.build_bundle(zip_path, rubric, list(extra_checks), starter)
    except (RubricError, gradescope.BundleError) as err:
        raise click.UsageError(str(err)) from err
    click.echo(f"wrote {zip_path}: {', '.join(names)}")


@main.command()
@click.argument("out", type=click.Path(path_type=Path, file_okay=False, exists=True))
@ROSTER
def summary(out: Path, roster: Path | None) -> None:
    """The class at a glance and the misconceptions found, from the results in OUT."""
    _merge_staff_grades(out)
    names = _roster(roster)
    click.echo(report.text_summary(report.build(
        out, names if names is not None else results.kept_roster(out))))


@main.command("report")
@click.argument("out", type=click.Path(path_type=Path, file_okay=False, exists=True))
@ROSTER
def report_command(out: Path, roster: Path | None) -> None:
    """Write OUT/report.html (and written_answers.csv) from the results already in OUT."""
    if not html_report.available():
        raise click.UsageError(html_report.MISSING_EXTRA)
    _merge_staff_grades(out)
    _class_report(out, _roster(roster))


def _class_report(out: Path, roster: dict[str, str] | None) -> None:
    roster = roster if roster is not None else results.kept_roster(out)
    if not html_report.available():
        click.echo(html_report.MISSING_EXTRA, err=True)
        return
    click.echo(f"report: {html_report.write(out, roster)}")


def _staff_grades_readable(out: Path, rubric: Rubric) -> None:
    """Stop before grading when a file of the staff's grades cannot be read (nothing graded
    may lose them); say which grades the rubric no longer asks for."""
    try:
        review.started(out, review.questions(out))
    except review.ReviewError as err:
        raise click.UsageError(str(err)) from err
    for question in review.unasked(out, rubric.questions):
        click.echo(f"the staff's grades of {question} are kept in {out}/{review.REVIEWS}/"
                   f"{question}.json, but the rubric asks no such question: they count "
                   "nowhere until one does", err=True)


def _sync_staff_grades(out: Path, rubric: Rubric | None = None) -> int:
    """Bring the results in OUT up to date with the staff's grades and adjustments; return
    how many were rewritten."""
    try:
        return review.sync(out, rubric=rubric)
    except review.ReviewError as err:
        raise click.UsageError(str(err)) from err


def _merge_staff_grades(out: Path, rubric: Rubric | None = None) -> None:
    """Bring the results in OUT up to date with the staff's grades and adjustments, and the
    gradebook with them."""
    if _sync_staff_grades(out, rubric):
        results.write_gradebook(out, rubric or load_rubric())


def _roster(path: Path | None) -> dict[str, str] | None:
    if path is None:
        return None
    try:
        return report.read_roster(path)
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise click.UsageError(f"cannot read the roster: {err}") from err
