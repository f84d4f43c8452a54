"""One copy algorithm (``copier``) with pluggable ends, as crane and skopeo are built.

- ``remote``: a repository of a registry (Registry HTTP API V2), source or target;
- ``layout``: an OCI image layout in a tar (the offline bundle), source or target;
- ``daemon``: the Docker engine (``docker save`` as a source, ``docker load`` as a target);
- ``manifests``: what the ends exchange: checked manifests and descriptors;
- ``locations``: where blobs were last seen in each registry, so a copy mounts instead of uploading.

push-deps, export and import all go through :func:`copier.copy_image`.
"""
