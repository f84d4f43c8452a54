"""Small helpers every stage shares: files from outside (``inputs``), output (``console``, ``metadata``), N jobs on
daemon threads (``jobs``), the retry policy (``retry``), atomic locked writes (``jsonfile``), what git says
(``gitinfo``)."""
