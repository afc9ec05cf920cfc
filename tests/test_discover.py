"""Finding submissions and the file that holds the dropout functions, and unpacking zips."""

from __future__ import annotations

import os
import zipfile

import pytest

from grader import discover


def _touch(path, text="def dropout_forward(x, p):\n    pass\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_cs231n_layers_comes_first_then_layers_then_any_definer(tmp_path):
    _touch(tmp_path / "a" / "mine.py")
    _touch(tmp_path / "layers.py")
    _touch(tmp_path / "x" / "cs231n" / "layers.py")
    target = discover.locate(tmp_path)
    assert target.display == "x/cs231n/layers.py"
    assert target.module == "cs231n.layers" and target.root == tmp_path / "x"
    (tmp_path / "x" / "cs231n" / "layers.py").unlink()
    assert discover.locate(tmp_path).display == "layers.py"
    (tmp_path / "layers.py").unlink()
    assert discover.locate(tmp_path).display == "a/mine.py"


def test_a_file_that_defines_the_function_beats_one_that_does_not(tmp_path):
    _touch(tmp_path / "cs231n" / "layers.py", "def affine_forward(x):\n    pass\n")
    _touch(tmp_path / "cs231n" / "dropout.py")
    assert discover.locate(tmp_path).display == "cs231n/dropout.py"


def test_nearest_the_root_wins_and_hidden_folders_are_ignored(tmp_path):
    _touch(tmp_path / "deep" / "er" / "solution.py")
    _touch(tmp_path / "top" / "solution.py")
    _touch(tmp_path / ".ipynb_checkpoints" / "layers.py")
    assert discover.locate(tmp_path).display == "top/solution.py"


def test_a_package_with_init_is_imported_as_a_package(tmp_path):
    _touch(tmp_path / "hw" / "__init__.py", "")
    _touch(tmp_path / "hw" / "cs231n" / "__init__.py", "")
    _touch(tmp_path / "hw" / "cs231n" / "layers.py")
    target = discover.locate(tmp_path)
    assert target.module == "hw.cs231n.layers" and target.root == tmp_path


def test_nothing_to_find(tmp_path):
    _touch(tmp_path / "notes.py", "x = 1\n")
    assert discover.locate(tmp_path) is None


def test_a_path_is_one_submission_or_a_folder_of_them(tmp_path):
    _touch(tmp_path / "alice" / "cs231n" / "layers.py")
    _touch(tmp_path / "bob.py")
    (tmp_path / "carol.zip").write_bytes(b"")
    (tmp_path / "README.md").write_text("hi")
    (tmp_path / ".git").mkdir()
    (tmp_path / "__pycache__").mkdir()
    subs, skipped = discover.find_submissions(tmp_path)
    assert [s.id for s in subs] == ["alice", "bob", "carol"]
    assert [s.kind for s in subs] == ["dir", "file", "zip"]
    assert skipped == ["README.md"]
    alone, _ = discover.find_submissions(tmp_path / "alice")
    assert [s.id for s in alone] == ["alice"]
    forced, _ = discover.find_submissions(tmp_path / "alice", single=False)
    assert [s.id for s in forced] == ["cs231n"]


def test_bad_paths_are_usage_errors(tmp_path):
    with pytest.raises(discover.DiscoveryError, match="no such file"):
        discover.find_submissions(tmp_path / "nope")
    with pytest.raises(discover.DiscoveryError, match="nothing to grade"):
        discover.find_submissions(tmp_path)
    notes = _touch(tmp_path / "notes.txt", "x")
    with pytest.raises(discover.DiscoveryError, match=r"must be a \.py or \.zip"):
        discover.find_submissions(notes)
    with pytest.raises(discover.DiscoveryError, match="not a submission"):
        discover.find_submissions(notes, single=True)


def test_an_unreadable_path_is_a_usage_error(tmp_path, monkeypatch):
    sub = _touch(tmp_path / "alice.py")
    monkeypatch.setattr(discover.os, "access", lambda path, mode: False)  # root reads all
    with pytest.raises(discover.DiscoveryError, match="permission denied"):
        discover.find_submissions(sub)


def test_ids_two_entries_share_are_neither_ones_and_the_staff_is_told(tmp_path):
    # one student cannot take another's id (nor stop the run by sharing it)
    _touch(tmp_path / "alice.py")
    _touch(tmp_path / "alice" / "layers.py")
    _touch(tmp_path / "bob.py")
    subs, _ = discover.find_submissions(tmp_path)
    assert {s.id: s.path.name for s in subs} == {
        "alice~dir": "alice", "alice~py": "alice.py", "bob": "bob.py"}
    assert [s.note for s in subs if s.id == "alice~py"] == [
        "alice.py is graded as alice~py: its name is another entry's, or one of the grader's "
        "own files"]
    assert [s.note for s in subs if s.id == "bob"] == [""]


@pytest.mark.parametrize(("name", "folder", "expected"), [
    ("grades.csv.py", False, "grades.csv~py"), ("report.html.py", False, "report.html~py"),
    ("written_answers.csv", True, "written_answers.csv~dir"),
    ("results.JSON.zip", False, "results.JSON~zip")])
def test_an_id_never_names_one_of_the_graders_own_files(tmp_path, name, folder, expected):
    (tmp_path / name).mkdir() if folder else _touch(tmp_path / name)
    [sub], _ = discover.find_submissions(tmp_path)
    assert sub.id == expected


def test_a_name_that_is_not_utf8_is_an_escaped_id(tmp_path):
    raw = os.fsencode(tmp_path) + b"/dave\xff.py"
    with open(raw, "w") as f:
        f.write("x = 1\n")
    [sub], _ = discover.find_submissions(tmp_path)
    assert sub.id == "dave\\xff"  # the four characters \ x f f: text any file can hold
    assert sub.id.encode("utf-8")
    assert sub.note == "dave\\xff.py is graded as dave\\xff: its name is not UTF-8 text"


def _zip(path, entries):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return path


@pytest.mark.parametrize("name", ["../evil.py", "/abs/evil.py", "a/../../evil.py", "C:/x.py"])
def test_zip_paths_that_escape_are_refused(tmp_path, name):
    archive = _zip(tmp_path / "s.zip", [(name, "x = 1")])
    with pytest.raises(discover.SubmissionError, match="unsafe path"):
        discover.extract_zip(archive, tmp_path / "dest")
    assert not (tmp_path / "evil.py").exists()


def test_zip_symlinks_are_refused(tmp_path):
    archive = tmp_path / "s.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("link")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(discover.SubmissionError, match="symbolic link"):
        discover.extract_zip(archive, tmp_path / "dest")


def test_zip_bombs_stop_at_the_size_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(discover, "MAX_ZIP_BYTES", 1 << 20)
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.bin", b"\0" * (4 << 20))
    assert archive.stat().st_size < 100_000
    with pytest.raises(discover.SubmissionError, match="more than 1 MB"):
        discover.extract_zip(archive, tmp_path / "dest")


def test_zip_entry_count_is_limited(tmp_path, monkeypatch):
    monkeypatch.setattr(discover, "MAX_ZIP_ENTRIES", 3)
    archive = _zip(tmp_path / "many.zip", [(f"f{i}.py", "") for i in range(4)])
    with pytest.raises(discover.SubmissionError, match="4 entries"):
        discover.extract_zip(archive, tmp_path / "dest")


def test_a_zip_of_a_folder_is_unpacked_and_searched(tmp_path):
    archive = _zip(tmp_path / "dana.zip", [("dana/cs231n/layers.py", "def dropout_forward(): 0")])
    sub = discover.Submission("dana", archive)
    target = discover.locate(discover.prepare(sub, tmp_path / "scratch"))
    assert target.display == "dana/cs231n/layers.py" and target.module == "cs231n.layers"


def test_content_hash_changes_with_content_only(tmp_path):
    f = _touch(tmp_path / "s" / "layers.py")
    before = discover.hash_files(tmp_path / "s")
    assert discover.hash_files(tmp_path / "s") == before
    f.write_text(f.read_text() + "# edit\n")
    assert discover.hash_files(tmp_path / "s") != before


def test_folders_nested_too_deep_are_the_submissions_error_never_a_crash(tmp_path):
    sub = tmp_path / "deep"
    _touch(sub / "layers.py")
    folder = sub
    for _ in range(discover.MAX_DEPTH + 1):
        folder = folder / "d"
    folder.mkdir(parents=True)
    with pytest.raises(discover.SubmissionError, match="nest more than 32 deep"):
        discover.locate(sub)
    submission = discover.Submission("deep", sub)
    assert submission.content_hash == discover.Submission("deep", sub).content_hash  # stable
    assert not discover.holds_fc_net(submission)
    (folder.parent / "d").rmdir()  # one level less: read as usual
    assert discover.locate(sub).display == "layers.py"


def test_a_submission_with_too_many_entries_is_its_own_error(tmp_path, monkeypatch):
    monkeypatch.setattr(discover, "MAX_ENTRIES", 10)
    for i in range(11):
        _touch(tmp_path / f"f{i}.txt", "")
    with pytest.raises(discover.SubmissionError, match="more than 10 files and folders"):
        list(discover.walk(tmp_path))


def test_names_are_hashed_as_bytes(tmp_path):
    sub = tmp_path / "s"
    _touch(sub / "layers.py")
    before = discover.hash_files(sub)
    with open(os.fsencode(sub) + b"/notes\xff.txt", "w") as f:
        f.write("x")
    after = discover.hash_files(sub)
    os.rename(os.fsencode(sub) + b"/notes\xff.txt", os.fsencode(sub) + b"/notes\xfe.txt")
    assert len({before, after, discover.hash_files(sub)}) == 3


def test_links_fifos_and_devices_are_neither_walked_nor_read(tmp_path):
    other = _touch(tmp_path / "alice" / "layers.py")
    sub = tmp_path / "bob"
    _touch(sub / "mine.py", "x = 1\n")
    (sub / "layers.py").symlink_to(other)
    (sub / "linked").symlink_to(tmp_path / "alice")
    os.mkfifo(sub / "fifo.py")
    assert [p.name for p in discover.walk(sub)] == ["mine.py"]
    with pytest.raises(discover.SubmissionError, match="not a regular file"):
        discover.read_regular(sub / "fifo.py", 100)  # and it does not block
    with pytest.raises(OSError):
        discover.read_regular(sub / "layers.py", 100)
    link = tmp_path / "carol"
    link.symlink_to(tmp_path / "alice")  # a whole submission that is a link
    with pytest.raises(discover.SubmissionError, match="symbolic link"):
        discover.prepare(discover.Submission("carol", link), None)


def _course(root, dropout_in="assignment2"):
    """A student's repository of the whole course: each assignment its own cs231n/, only one
    of them with dropout."""
    for name in ("assignment1", "assignment2", "assignment3"):
        text = ("def dropout_forward(x, p):\n    pass\n" if name == dropout_in
                else "def affine_forward(x, w, b):\n    pass\n")
        _touch(root / name / "cs231n" / "layers.py", text)
    _touch(root / "README.md", "my cs231n")
    return root


def test_a_whole_course_repository_is_one_submission(tmp_path):
    repo = _course(tmp_path / "repo")
    assert discover.lone_definer(repo) == repo / "assignment2" / "cs231n" / "layers.py"
    [sub], _ = discover.find_submissions(repo)
    assert sub.id == "repo"
    assert discover.locate(sub.path).display == "assignment2/cs231n/layers.py"


def test_a_folder_of_students_is_still_a_batch(tmp_path):
    for student in ("alice", "bob"):
        _touch(tmp_path / student / "cs231n" / "layers.py")
    subs, _ = discover.find_submissions(tmp_path)
    assert [s.id for s in subs] == ["alice", "bob"]
    alone = tmp_path / "one"  # a class of one student, and a folder of one lone file
    _touch(alone / "carol" / "cs231n" / "layers.py")
    assert [s.id for s in discover.find_submissions(alone)[0]] == ["carol"]
    (tmp_path / "files").mkdir()
    _touch(tmp_path / "files" / "dave.py")
    _touch(tmp_path / "files" / "notes" / "todo.py", "x = 1\n")
    assert [s.id for s in discover.find_submissions(tmp_path / "files")[0]] == ["dave", "notes"]


def test_ids_are_unique_and_short_whatever_the_names(tmp_path):
    # the review's cases: names that stay alike once suffixed, and a 100-byte name that is
    # not UTF-8 (400 characters once escaped: more than a folder name may hold)
    for name in ("r.csv", "r.csv~dir", "alice", "alice~dir"):
        (tmp_path / name).mkdir()
    _touch(tmp_path / "alice.py")
    os.mkdir(os.fsencode(tmp_path) + b"/dav\xe9")
    (tmp_path / "dav\\xe9").mkdir()
    with open(os.fsencode(tmp_path) + b"/" + b"\xff" * 100 + b".py", "w") as f:
        f.write("x = 1\n")
    subs, _ = discover.find_submissions(tmp_path)
    ids = [s.id for s in subs]
    assert len(set(ids)) == len(ids) == 8
    assert all(len(i.encode()) <= discover.MAX_ID_BYTES + 10 for i in ids)
    assert {"alice~py", "alice~dir", "r.csv~dir"} <= set(ids)  # the entries named so keep them


def test_one_students_many_files_do_not_make_a_class_one_submission(tmp_path, monkeypatch):
    monkeypatch.setattr(discover, "MAX_SEARCH_FILES", 3)
    _touch(tmp_path / "aaa" / "hw" / "a0.py")
    for i in range(1, 6):
        _touch(tmp_path / "aaa" / "hw" / f"a{i}.py", "")
    for student in ("bob", "carol"):
        _touch(tmp_path / student / "cs231n" / "layers.py")
    assert [s.id for s in discover.find_submissions(tmp_path)[0]] == ["aaa", "bob", "carol"]


def test_a_tree_too_deep_for_shutil_is_removed(tmp_path):
    folder = tmp_path / "deep"
    folder.mkdir()
    for _ in range(1500):  # os.makedirs recurses too
        folder = folder / "d"
        folder.mkdir()
    (folder / "x").write_text("x")
    discover.remove_tree(tmp_path / "deep")
    assert not (tmp_path / "deep").exists()
