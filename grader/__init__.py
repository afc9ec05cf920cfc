"""dropout-grader: grades CS231n's dropout layer with feedback that teaches."""

__version__ = "0.3.0"
