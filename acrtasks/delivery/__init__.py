"""Getting released images where they are needed, on the copy engine (:mod:`acrtasks.copy`).

- ``mirrorer``: ``push-deps``, dependency images registry to registry;
- ``bundle``: ``export`` and ``import``, offline bundles;
- ``puller``: ``pull``, released images back into the engine under their local names.
"""
