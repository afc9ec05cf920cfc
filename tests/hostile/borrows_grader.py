from grader.checks import conftest  # noqa: F401
