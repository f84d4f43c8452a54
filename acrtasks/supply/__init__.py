"""The supply chain: images signed and verified with cosign, their signatures carried by copies.

- ``cosign.py``: the one boundary to the cosign program (found, its version checked, run with the key's
  password and the registry's credentials in its environment, never its arguments; failures as one line);
- ``signing.py``: what a release signs (each pushed image by digest, in each repository it lives in), the
  signatures' tags (cosign's ``sha256-<hex>.sig``), signing and verifying them.

Signatures are written in the tag form every registry stores (ACR's included: a plain image manifest, no
artifactType, no empty config); docs/supply-chain.md says why, and what is left for registries with the OCI
Referrers API.
"""
