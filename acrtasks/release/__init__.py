"""One release, the one home of what it is: every image of one version named once (``images``: the
:class:`~acrtasks.release.images.Release`), and its record, ``release-<version>`` in the registry (``record``:
the entries, reading and writing it, the label and the time it states)."""
