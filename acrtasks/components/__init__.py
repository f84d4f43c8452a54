"""A release's own components: the build plan (``plan``), what a build reads (``input_digest``: unchanged
components are not rebuilt), the builds (``builder`` over ``backends``), new labels on an unchanged image
(``relabel``), base images (``bases``), and pushing (``pusher``, ``changes``)."""
