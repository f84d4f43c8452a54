"""Compose files and ``.env`` as ``docker compose`` reads them (compose-go v2's rules, ported).

``template`` is compose's interpolation (``${VAR:-default}`` and the rest),
``dotenv`` its ``.env`` reader (with each value's place, for set-images),
``project`` a compose file's environment, template checks and the images it
runs. push-deps (image discovery), set-images and pull all read compose files
through here, so they agree with compose and with each other.
"""
