from acrtasks import ns  # noqa: F401
