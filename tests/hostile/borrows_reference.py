from reference.layers import dropout_backward, dropout_forward  # noqa: F401
