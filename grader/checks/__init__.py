"""The checks: one pytest function ``check_<id>`` per rubric check id."""
