import pathlib
pathlib.Path("/tmp/dropout-grader-hostile-marker").write_text(__name__)
