"""What makes a registry Alibaba Cloud ACR: its host name, decided here once. Naming's default flat layout
(``[registry] flat_hosts``), the login hints that name ACR's own look-alike causes and the preflight's console
hint all ask this module."""

from typing import Tuple

ACR_SUFFIX = ".aliyuncs.com"
#: ``[registry] flat_hosts``' default: ACR keeps one repository per namespace, the component in the tag.
DEFAULT_FLAT_HOSTS: Tuple[str, ...] = (ACR_SUFFIX,)


def is_acr_host(host: str) -> bool:
    """``xxx.aliyuncs.com`` (a port is fine); not ``aliyuncs.com.evil.io`` nor ``notaliyuncs.com``."""
    return host.split(":", 1)[0].lower().endswith(ACR_SUFFIX)
