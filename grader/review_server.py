"""``grade review OUT``: the staff's page for grading the written answers, question by question
and answer group by answer group. Served on 127.0.0.1 only, on a free port, to whoever holds
the secret token in its address (as Jupyter does): no other local user, and no other web page
in the staff's browser, can read an answer or post a score. Student text reaches the page as
JSON data and is shown as text, never as markup."""

from __future__ import annotations

import contextlib
import hmac
import json
import re
import secrets
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from grader import adjust, questions, results, review
from grader.answers import Class, Student
from grader.rubric import Question, Rubric

MAX_BODY = 64 << 10  # a request's JSON: scores, comments, ids; never more
PAGE = "review.html"


def question_state(out: Path, question: Question, students: list[Student],
                   groups: list[questions.Group]) -> dict:
    """What the page shows of QUESTION: its rubric items, progress, and the answer GROUPS with
    every member's grade."""
    found = review.load(out, question.id) or review.Review(question.id)
    by_id = {s.id: s for s in students}
    digests = {s.id: s.digest(question.id) for s in students}
    shown = []
    for group in groups:
        members = []
        for sid in group.members:
            given = found.grades.get(sid)
            graded = given is not None and given.graded
            members.append({
                "id": sid, "label": by_id[sid].label,
                "grade": None if given is None else {
                    "score": given.score, "comment": given.comment, "items": given.items,
                    "own": given.own},
                "final": found.score(given, question) if graded else None,
                "changed": given is not None and given.changed(digests[sid])})
        shown.append({"key": group.key, "text": group.text, "diff": group.diff,
                      "cluster": group.cluster, "answered": group.answered,
                      "hints": questions.hints(group.text, question.key_points),
                      "members": members})
    return {
        "question": {"id": question.id, "title": question.title, "points": question.points,
                     "scoring": question.scoring, "key_points": list(question.key_points)},
        "items": [{"id": i.id, "title": i.title, "points": i.points,
                   "applied": sum(i.id in g.items for g in found.grades.values())}
                  for i in found.items],
        "progress": {"graded": found.graded_among(students), "of": len(students)},
        "groups": shown}


class Debounced:
    """Run a job (the gradebook, rebuilt from every result) in the background after changes,
    at most once every SECONDS, the last change always followed by a run."""

    SECONDS = 1.0

    def __init__(self, job) -> None:
        self.job = job
        self.wanted = threading.Event()
        threading.Thread(target=self._loop, daemon=True).start()

    def request(self) -> None:
        self.wanted.set()

    def _loop(self) -> None:
        while True:
            self.wanted.wait()
            time.sleep(self.SECONDS)
            self.wanted.clear()
            with contextlib.suppress(Exception):  # the next change, or Ctrl-C, tries again
                self.job()


class Refused(Exception):
    """A request the page does not answer: (status, why)."""


class ReviewApp:
    """The page's data and every change the staff make, apart from HTTP."""

    def __init__(self, out: Path, rubric: Rubric, asked: tuple[Question, ...]) -> None:
        self.out, self.rubric, self.asked = out, rubric, asked
        self.token = secrets.token_urlsafe(32)
        self.everyone = Class(out)
        self.gradebook = Debounced(lambda: results.write_gradebook(out, rubric))

    def question(self, question_id: str) -> Question:
        found = next((q for q in self.asked if q.id == question_id), None)
        if found is None:
            raise Refused(HTTPStatus.NOT_FOUND, f"no question {question_id!r}")
        return found

    def overview(self) -> dict:
        students = self.everyone.students(self.asked)
        shown = []
        for question in self.asked:
            try:
                found = review.load(self.out, question.id)
            except review.ReviewError as err:  # that question's alone: the others work
                shown.append({"id": question.id, "title": question.title, "error": str(err),
                              "points": question.points, "graded": 0, "of": len(students)})
                continue
            shown.append({"id": question.id, "title": question.title,
                          "points": question.points, "of": len(students),
                          "graded": found.graded_among(students) if found else 0})
        return {"out": str(self.out.name), "questions": shown}

    def state(self, question_id: str) -> dict:
        return self._state(self.question(question_id), self.everyone.students(self.asked))

    def _state(self, question: Question, students: list[Student]) -> dict:
        return question_state(self.out, question, students,
                              self.everyone.groups(students, question.id))

    def change(self, question_id: str, body: dict) -> dict:
        """Apply one change the page asks for to the question's grades (saved at once), bring
        the results it touches up to date, and return the question as it is now."""
        question = self.question(question_id)
        students = self.everyone.students(self.asked)
        digests = {s.id: s.digest(question.id) for s in students}
        known = set(digests)
        op = body.get("op")
        touched: list[str] = []
        left_out: list[str] = []

        def edit(found: review.Review) -> None:
            nonlocal touched, left_out
            if op == "grade":
                ids = _ids(body, known)
                if "group" in body:  # a group's grade: only for the answer it was given to
                    now = {sid for g in self.everyone.groups(students, question.id)
                           if g.key == body["group"] for sid in g.members}
                    left_out = [sid for sid in ids if sid not in now]
                    ids = [sid for sid in ids if sid in now]
                touched = review.grade(
                    found, ids, digests, alone=bool(body.get("alone")),
                    score=_score(body["score"], question) if "score" in body else ...,
                    comment=_text(body, "comment") if "comment" in body else None,
                    add=_item_ids(body, "add"), remove=_item_ids(body, "remove"))
            elif op == "ungrade":
                touched = review.ungrade(found, _ids(body, known))
            elif op == "item":
                item_id = body.get("id")
                if item_id is not None and not isinstance(item_id, str):
                    raise Refused(HTTPStatus.BAD_REQUEST, "an item id is text")
                title = _text(body, "title").strip()
                if not title:
                    raise Refused(HTTPStatus.BAD_REQUEST, "a rubric item needs a title")
                touched = review.set_item(found, item_id, title, _number(body.get("points")))
            elif op == "delete_item":
                touched = review.delete_item(found, str(body.get("id")))
            else:
                raise Refused(HTTPStatus.BAD_REQUEST, f"unknown change {op!r}")

        begun = review.load(self.out, question.id) is None
        review.change(self.out, question.id, edit)
        # the question's first grade adds its test to every result, not only the graded ones
        state = self._state(question, students)
        if left_out:
            state["warning"] = (f"saved, but not for {len(left_out)} of the group: their "
                                "answers changed since the page showed them")
        try:
            review.sync(self.out, None if begun else touched, self.rubric)
            self.gradebook.request()
        except review.ReviewError as err:  # saved; the results wait for the file's repair
            state["warning"] = f"saved, but the results are not updated: {err}"
        return state

    def student(self, sid: str) -> dict:
        found = results.read(self.out, sid)
        if found is None:
            raise Refused(HTTPStatus.NOT_FOUND, "no such student")
        return {"id": sid, "score": found.score, "max_score": found.max_score,
                "checks": [{"id": c.id, "title": c.title, "score": c.score,
                            "max_score": c.max_score} for c in found.checks
                           if c.id != adjust.TOTAL],
                "adjustments": found.adjustments}

    def adjust(self, body: dict) -> dict:
        """An adjustment of a student's check, or total, with its reason (`grade adjust`)."""
        sid = body.get("student")
        found = results.read(self.out, sid) if isinstance(sid, str) else None
        if found is None:
            raise Refused(HTTPStatus.NOT_FOUND, "no such student")
        check = body.get("check") or adjust.TOTAL
        if check != adjust.TOTAL and check not in {c.id for c in found.checks}:
            raise Refused(HTTPStatus.BAD_REQUEST, f"no check {check!r}")
        reason = _text(body, "reason").strip()
        if not reason:
            raise Refused(HTTPStatus.BAD_REQUEST, "an adjustment needs a reason")
        adjust.add(self.out, adjust.Adjustment(sid, check, _number(body.get("points")), reason))
        review.regrade(self.out, sid, self.rubric)
        self.gradebook.request()
        return self.student(sid)


def _ids(body: dict, known: set[str]) -> list[str]:
    ids = body.get("students")
    if not isinstance(ids, list) or not all(isinstance(i, str) and i in known for i in ids):
        raise Refused(HTTPStatus.BAD_REQUEST, "students must be ids of the class")
    return ids


def _item_ids(body: dict, key: str) -> tuple[str, ...]:
    found = body.get(key, [])
    if not isinstance(found, list) or not all(isinstance(i, str) for i in found):
        raise Refused(HTTPStatus.BAD_REQUEST, f"{key} must be a list of item ids")
    return tuple(found)


def _text(body: dict, key: str) -> str:
    value = body.get(key, "")
    if not isinstance(value, str):
        raise Refused(HTTPStatus.BAD_REQUEST, f"{key} must be text")
    return value[:review.MAX_TEXT]


def _number(value: object) -> float:
    try:
        return review.number(value)
    except ValueError as err:
        raise Refused(HTTPStatus.BAD_REQUEST, "points must be a number") from err


def _score(value: object, question: Question) -> float | None:
    """A typed score: none, or a number from 0 to the question's points."""
    try:
        return None if value is None else review.typed_score(value, question)
    except ValueError as err:
        raise Refused(HTTPStatus.BAD_REQUEST, str(err)) from err


class Handler(BaseHTTPRequestHandler):
    app: ReviewApp  # set on the server's own subclass
    server_version = "dropout-grader-review"
    sys_version = ""

    def log_message(self, format: str, *args: object) -> None:
        pass  # the terminal stays quiet; a token never reaches a log

    def do_GET(self) -> None:
        self._answer(self._get)

    def do_POST(self) -> None:
        self._answer(self._post)

    def _answer(self, handle) -> None:
        try:
            self._allowed()
            status, kind, body = handle(urlsplit(self.path).path)
        except Refused as refused:
            status, why = refused.args
            kind, body = "text/plain; charset=utf-8", f"{status} {why}\n".encode()
        except review.ReviewError as err:
            status, kind = HTTPStatus.CONFLICT, "text/plain; charset=utf-8"
            body = f"409 {err}\n".encode()
        except Exception as err:  # the page says so; the server goes on serving
            status, kind = HTTPStatus.INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8"
            body = f"500 the grader failed: {err!r}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        if kind.startswith("text/html"):
            self.send_header("Content-Security-Policy", self._policy)
        self.end_headers()
        self.wfile.write(body)

    def _allowed(self) -> None:
        """Only this page's own address (no other site's name resolving to 127.0.0.1), with
        the token: in the address for the page, in a header for its data."""
        port = self.server.server_address[1]
        if self.headers.get("Host") not in (f"127.0.0.1:{port}", f"localhost:{port}"):
            raise Refused(HTTPStatus.FORBIDDEN, "this page answers at 127.0.0.1 only")
        url = urlsplit(self.path)
        given = self.headers.get("X-Review-Token") if url.path.startswith("/api/") else \
            (parse_qs(url.query).get("token") or [""])[0]
        if not given or not hmac.compare_digest(given.encode(), self.app.token.encode()):
            raise Refused(HTTPStatus.FORBIDDEN, "this page needs the address with the token "
                                                "that `grade review` printed")

    def _get(self, path: str) -> tuple[int, str, bytes]:
        if path == "/":
            nonce = secrets.token_urlsafe(16)
            self._policy = (f"default-src 'none'; script-src 'nonce-{nonce}'; "
                            f"style-src 'nonce-{nonce}'; connect-src 'self'; "
                            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
            page = resources.files("grader").joinpath("templates", PAGE).read_text()
            return HTTPStatus.OK, "text/html; charset=utf-8", \
                page.replace("{{nonce}}", nonce).encode()
        if path == "/api/questions":
            return self._json(self.app.overview())
        if found := re.fullmatch(r"/api/questions/([\w-]+)", path):
            return self._json(self.app.state(found.group(1)))
        if found := re.fullmatch(r"/api/students/(.+)", path):
            from urllib.parse import unquote

            return self._json(self.app.student(unquote(found.group(1))))
        raise Refused(HTTPStatus.NOT_FOUND, "not found")

    def _post(self, path: str) -> tuple[int, str, bytes]:
        if self.headers.get("Content-Type", "").split(";")[0] != "application/json":
            raise Refused(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send JSON")
        length = self.headers.get("Content-Length") or ""
        length = int(length) if length.isdigit() else 0
        if not 0 < length <= MAX_BODY:
            raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "too large")
        try:
            body = json.loads(self.rfile.read(length))
        except (ValueError, RecursionError) as err:
            raise Refused(HTTPStatus.BAD_REQUEST, "not JSON") from err
        if not isinstance(body, dict):
            raise Refused(HTTPStatus.BAD_REQUEST, "send a JSON object")
        if found := re.fullmatch(r"/api/questions/([\w-]+)", path):
            return self._json(self.app.change(found.group(1), body))
        if path == "/api/adjustments":
            return self._json(self.app.adjust(body))
        raise Refused(HTTPStatus.NOT_FOUND, "not found")

    @staticmethod
    def _json(data: dict) -> tuple[int, str, bytes]:
        return HTTPStatus.OK, "application/json", json.dumps(data).encode()


def serve(app: ReviewApp, port: int = 0) -> ThreadingHTTPServer:
    """A server of APP's page on 127.0.0.1 (PORT 0: a free one), not yet serving."""
    handler = type("AppHandler", (Handler,), {"app": app})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    return server


def address(server: ThreadingHTTPServer, app: ReviewApp) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/?token={app.token}"
