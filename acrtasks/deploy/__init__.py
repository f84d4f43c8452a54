"""set-images: write the refs a release pushed into deployment files (compose, Kubernetes, Helm, kustomize, .env).

``refs`` decides which ref each image value should become (the same naming
code as ``push`` and ``push-deps``); ``yamldoc`` finds image values in YAML
documents with their exact byte spans; ``rewrite`` plans the edits, checks
them by re-parsing, and writes only the changed bytes.
"""
