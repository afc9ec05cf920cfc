"""Finding submissions and the file that holds the dropout functions, and unpacking zips."""

from __future__ import annotations

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


def test_two_submissions_with_one_id_are_refused(tmp_path):
    _touch(tmp_path / "alice.py")
    _touch(tmp_path / "alice" / "layers.py")
    with pytest.raises(discover.DiscoveryError, match="share the id 'alice'"):
        discover.find_submissions(tmp_path)


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
