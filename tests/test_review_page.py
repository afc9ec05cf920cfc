"""The staff's review page in a real browser (Debian's chromium, driven by Selenium through
chromium-driver): a TA grades the written class (tests/written_class.py) as a person does,
mostly from the keyboard, then the gradebook, the results and the report show the scores, a
forced regrade keeps them, and a changed answer is flagged. `.ci/run` installs the browser
and sets REVIEW_BROWSER_REQUIRED, so that in CI a missing browser fails instead of skipping."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from written_class import HOSTILE, RIGHT, notebook_2019, write_class, write_student

Q1 = "inline_question_1"
CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
GRADE = [sys.executable, "-m", "grader"]

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # the dev extra installs it
    webdriver = None

if webdriver is None or not (CHROMIUM.exists() and DRIVER.exists()):
    why = "needs selenium, Debian's chromium and chromium-driver (.ci/run installs them)"
    if os.environ.get("REVIEW_BROWSER_REQUIRED"):
        raise RuntimeError(why)
    pytest.skip(why, allow_module_level=True)


def _grade(*args) -> subprocess.CompletedProcess:
    run = subprocess.run([*GRADE, *map(str, args)], capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr
    return run


class Page:
    """`grade review OUT` running, and a headless browser on its address."""

    def __init__(self, out: Path) -> None:
        self.server = subprocess.Popen([*GRADE, "review", str(out)], stdout=subprocess.PIPE,
                                       stderr=subprocess.DEVNULL, text=True)
        self.server.stdout.readline()
        self.address = self.server.stdout.readline().strip()
        assert self.address.startswith("http://127.0.0.1:"), self.address
        options = webdriver.ChromeOptions()
        for flag in ("--headless=new", "--no-sandbox", "--window-size=1300,1000",
                     "--disable-dev-shm-usage"):
            options.add_argument(flag)
        options.binary_location = str(CHROMIUM)
        self.browser = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
        self.wait = WebDriverWait(self.browser, 20)

    def open(self, address: str | None = None) -> None:
        self.browser.get(address or self.address)
        if address is None:
            self.wait.until(lambda b: "graded" in b.find_element(By.ID, "progress-text").text)

    def text(self, css: str) -> str:
        return self.browser.find_element(By.CSS_SELECTOR, css).text

    def groups(self) -> list:
        return self.browser.find_elements(By.CSS_SELECTOR, ".group")

    def saving(self, act) -> None:
        """Do ACT, and wait until the page says the change is saved."""
        self.browser.execute_script("document.getElementById('status').textContent = ''")
        act()
        self.wait.until(lambda b: b.find_element(By.ID, "status").text in ("saved",)
                        or b.find_element(By.ID, "status").text.startswith("not"))
        assert self.text("#status") == "saved"

    def keys(self, *keys: str) -> None:
        self.browser.switch_to.active_element.send_keys(*keys)

    def close(self) -> None:
        self.browser.quit()
        self.server.send_signal(signal.SIGINT)  # as Ctrl-C: it merges the grades and stops
        assert self.server.wait(60) == 0


def _tests(out: Path, sid: str) -> dict[str, dict]:
    data = json.loads((out / sid / "results.json").read_text())
    return {t["extra_data"]["check"]: t for t in data["tests"]}


def test_a_ta_grades_the_written_answers_in_the_browser(tmp_path):
    folder, out = write_class(tmp_path / "class"), tmp_path / "out"
    _grade(folder, "--out", out, "-j", "2")
    page = Page(out)
    try:
        _grade_the_class(page, out)
        page.browser.refresh()  # a reload keeps everything
        page.wait.until(lambda b: "graded" in b.find_element(By.ID, "progress-text").text)
        _everything_is_kept(page)
        if shot := os.environ.get("REVIEW_SCREENSHOT"):  # the README's picture
            page.browser.save_screenshot(shot)
    finally:
        page.close()
    _the_gradebook_has_it(folder, out)


def _grade_the_class(page: Page, out: Path) -> None:
    browser = page.browser
    # without the token, or with a wrong one, there is nothing to see
    page.open(page.address.split("?")[0])
    assert "needs the address with the token" in browser.find_element(By.TAG_NAME, "body").text
    page.open(page.address[:-3] + "xyz")
    assert "403" in browser.find_element(By.TAG_NAME, "body").text
    page.open()
    assert page.text("#progress-text") == "0 of 11 graded"
    # the answer holding <script> is shown as what it is: text
    answers = [a.text for a in browser.find_elements(By.CSS_SELECTOR, ".answer")]
    assert HOSTILE in answers
    assert browser.title == "Written answers · dropout-grader"
    assert not browser.find_elements(By.CSS_SELECTOR, ".answer script, .answer img")

    # two rubric items, made on the page
    for title, points in (("Names the expected value", "4"), ("Says the scale differs", "1")):
        browser.find_element(By.ID, "new-item-title").send_keys(title)
        field = browser.find_element(By.ID, "new-item-points")
        field.clear()
        field.send_keys(points)
        page.saving(lambda: browser.find_element(By.ID, "new-item-title").send_keys(Keys.ENTER))
    page.keys(Keys.ESCAPE)  # out of the form, back to grading by keys

    # the first group (ada, ben, chen: one answer, three spellings), by keys 1 and 2
    assert page.groups()[0].find_element(By.CSS_SELECTOR, ".answer").text == RIGHT
    page.keys("1")
    page.keys("2")
    page.keys("c")  # the comment, typed while both items are on their way to be saved
    page.keys("Right.")
    page.wait.until(lambda b: b.execute_script("return pending") == 0)
    comment = browser.switch_to.active_element
    assert (comment.get_attribute("class"), comment.get_attribute("value")) == \
        ("comment", "Right.")  # the page redrew twice meanwhile: nothing typed was lost
    assert "graded 3/3: 5/5" in page.groups()[0].text
    page.saving(lambda: page.keys(Keys.ENTER))
    # the next group, dana's near-identical answer: a typed score and a comment
    page.keys(Keys.ESCAPE, "j")
    page.keys("s")
    page.keys("4", Keys.TAB)  # on to the comment
    page.saving(lambda: page.keys("Close, but mind the wording.", Keys.ENTER))
    assert "graded 1/1: 4/5" in page.groups()[1].text
    # the blog post's wrong answer, with the mouse
    wrong = next(g for g in page.groups() if "multiply by p" in g.text)
    wrong.find_element(By.CSS_SELECTOR, ".score").send_keys("1")
    wrong.find_element(By.CSS_SELECTOR, ".comment").send_keys(
        "Dividing by p keeps the expected value; multiplying does not.")
    page.saving(lambda: wrong.find_element(By.CSS_SELECTOR, ".save").click())
    assert page.text("#progress-text") == "6 of 11 graded"
    # one of them cleared: the group's members now differ, and its boxes show no grade
    wrong = next(g for g in page.groups() if "multiply by p" in g.text)
    next(b for b in wrong.find_elements(By.TAG_NAME, "button")
         if b.text.startswith("Members")).click()
    fay = browser.find_element(By.CSS_SELECTOR, 'tr[data-student="fay"]')
    page.saving(lambda: next(b for b in fay.find_elements(By.TAG_NAME, "button")
                             if b.text == "Clear").click())
    assert "graded 1/2: 1/5" in _group(page, "multiply by p").text
    # a comment alone, typed in a group that is not the current one: eli keeps his score
    page.keys(Keys.ESCAPE)
    box = _group(page, "multiply by p").find_element(By.CSS_SELECTOR, ".comment")
    box.click()
    box.send_keys(Keys.CONTROL, "a", Keys.NULL, "See the notes on expected values.")
    page.saving(lambda: box.send_keys(Keys.ENTER))
    assert "graded 1/2: 1/5" in _group(page, "multiply by p").text
    score = _group(page, "multiply by p").find_element(By.CSS_SELECTOR, ".score")
    page.saving(lambda: score.send_keys("1", Keys.ENTER))
    assert "graded 2/2: 1/5" in _group(page, "multiply by p").text

    # the first item is worth less afterwards: everyone who has it is updated
    points = browser.find_element(By.CSS_SELECTOR, "#items li:first-child input")
    page.saving(lambda: points.send_keys(Keys.CONTROL, "a", Keys.NULL, "3.5", Keys.TAB))
    assert "graded 3/3: 4.5/5" in page.groups()[0].text

    # one student's own grade (ben's), the ids shown
    page.keys(Keys.ESCAPE)
    page.groups()[0].find_element(By.CSS_SELECTOR, ".meta").click()
    page.keys("m")
    page.keys("i")
    ben = browser.find_element(By.CSS_SELECTOR, 'tr[data-student="ben"]')
    page.saving(lambda: ben.find_element(By.CSS_SELECTOR, ".own-score").send_keys("5",
                                                                                   Keys.ENTER))
    assert "own grade" in browser.find_element(By.CSS_SELECTOR, 'tr[data-student="ben"]').text

    # an adjustment of chen's total, on the page
    chen = browser.find_element(By.CSS_SELECTOR, 'tr[data-student="chen"]')
    next(b for b in chen.find_elements(By.TAG_NAME, "button") if b.text == "Adjust…").click()
    form = page.wait.until(lambda b: b.find_element(By.CSS_SELECTOR, ".adjust-form"))
    Select(form.find_element(By.TAG_NAME, "select")).select_by_visible_text("the total")
    amount = form.find_element(By.CSS_SELECTOR, "input[type=number]")
    amount.clear()
    amount.send_keys("-2")
    form.find_element(By.CSS_SELECTOR, "input[aria-label=reason]").send_keys("Notebook late")
    form.find_element(By.TAG_NAME, "button").click()
    page.wait.until(lambda b: b.find_element(By.ID, "status").text.startswith("adjusted"))
    assert page.text("#status") == "adjusted: total 102.5/105"


def _group(page: Page, holding: str):
    return next(g for g in page.groups() if holding in g.text)


def _everything_is_kept(page: Page) -> None:
    assert page.text("#progress-text") == "6 of 11 graded"
    items = page.browser.find_elements(By.CSS_SELECTOR, "#items li input")
    assert [i.get_attribute("value") for i in items] == ["3.5", "1"]
    first = page.groups()[0].text
    assert "graded 3/3: 4.5/5, 5/5" in first
    assert "Q1 · 6/11" in page.text("#tabs")


def _the_gradebook_has_it(folder: Path, out: Path) -> None:
    scores = {sid: _tests(out, sid)[Q1]["score"] for sid in ("ada", "ben", "chen", "dana",
                                                               "eli", "gus")}
    assert scores == {"ada": 4.5, "ben": 5, "chen": 4.5, "dana": 4, "eli": 1, "gus": 0}
    ada = _tests(out, "ada")[Q1]
    assert ada["output"] == "+3.5: Names the expected value\n+1: Says the scale differs\nRight."
    assert _tests(out, "dana")[Q1]["output"] == "Close, but mind the wording."
    assert _tests(out, "chen")["adjustment"]["score"] == -2
    for forced in (False, True):  # as the page left it, and after `grade --force`
        rows = {r["id"]: r for r in csv.DictReader((out / "grades.csv").open())}
        assert [rows[s][Q1] for s in ("ada", "ben", "dana", "gus")] == ["4.5", "5", "4", ""]
        assert (rows["chen"]["score"], rows["chen"]["adjustments"]) == \
            ("102.5", "adjustment -2: Notebook late")
        if not forced:
            _grade(folder, "--out", out, "--force", "-j", "2")
    _grade("report", out)
    report = (out / "report.html").read_text()
    assert "6 of 11 graded, mean 3.3 / 5" in report
    # eli resubmits with another answer: the score stays, flagged until someone looks
    write_student(folder, "eli", notebook_2019, [RIGHT, "", ""])
    _grade(folder, "--out", out, "-j", "2")
    eli = _tests(out, "eli")[Q1]
    assert eli["score"] == 1 and "changed since it was graded" in eli["output"]
    page = Page(out)
    try:
        page.open()
        first = page.groups()[0]
        assert "answer changed since it was graded" in first.text
    finally:
        page.close()


def _hold(page: Page, seconds: float) -> None:
    """Hold the page's queue of changes for SECONDS, as a slow server would."""
    page.browser.execute_script(
        f"queue = queue.then(() => new Promise(r => setTimeout(r, {seconds * 1000})))")


def test_each_change_lands_where_it_was_made_however_slow_the_saves(tmp_path):
    folder, out = write_class(tmp_path / "class"), tmp_path / "out"
    _grade(folder, "--out", out, "-j", "2")
    page = Page(out)
    try:
        page.open()
        browser = page.browser
        # a score saved while the page is slow, then another question opened at once
        _hold(page, 1.5)
        wrong = _group(page, "multiply by p")
        wrong.find_element(By.CSS_SELECTOR, ".score").send_keys("1", Keys.ENTER)
        browser.find_element(By.CSS_SELECTOR, "#tabs button:nth-child(2)").click()
        page.wait.until(lambda b: b.execute_script("return pending") == 0)
        assert "Q2" in page.text("#tabs") and "Inline Question 2" in page.text("#title")
        browser.find_element(By.CSS_SELECTOR, "#tabs button:nth-child(1)").click()
        page.wait.until(lambda b: "Inline Question 1" in b.find_element(By.ID, "title").text)
        assert "graded 2/2: 1/5" in _group(page, "multiply by p").text
        assert not (out / "reviews" / "inline_question_2.json").exists()
        # more typed while the comment waits its turn: it goes with it, nothing is lost
        _hold(page, 1.5)
        box = _group(page, "multiply by p").find_element(By.CSS_SELECTOR, ".comment")
        box.send_keys("Dividing keeps the mean.", Keys.ENTER)
        box.send_keys(" Multiplying does not.")
        page.wait.until(lambda b: b.execute_script("return pending") == 0)
        box = _group(page, "multiply by p").find_element(By.CSS_SELECTOR, ".comment")
        assert box.get_attribute("value") == "Dividing keeps the mean. Multiplying does not."
        grades = json.loads((out / "reviews" / f"{Q1}.json").read_text())["grades"]
        assert grades["eli"]["comment"] == "Dividing keeps the mean. Multiplying does not."
        # a score that is no number is refused, not saved as "no score"
        score = _group(page, "multiply by p").find_element(By.CSS_SELECTOR, ".score")
        score.send_keys(Keys.CONTROL, "a", Keys.NULL, "1e", Keys.ENTER)
        page.wait.until(lambda b: b.find_element(By.ID, "status").text.startswith("not"))
        assert page.text("#status") == "not saved: the score is not a number"
        grades = json.loads((out / "reviews" / f"{Q1}.json").read_text())["grades"]
        assert grades["eli"]["score"] == 1 and grades["fay"]["score"] == 1
        # the group the keys act on stays that group when the groups are put in another order
        page.keys(Keys.ESCAPE)
        _group(page, "multiply by p").find_element(By.CSS_SELECTOR, ".meta").click()
        browser.execute_script("state.groups.reverse(); render()")
        assert "multiply by p" in page.text(".group.current")
    finally:
        page.close()
