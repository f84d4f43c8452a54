"""acrtasks: build, tag and push a multi-component product's images, first-class on Alibaba Cloud ACR.

A repository uses it with three small files: ``tasks.py`` (``from acrtasks import ns``),
``invoke.yaml`` (``tasks: {executor_class: acrtasks.ChainExecutor}``) and ``build.toml``.
"""

__version__ = "0.1.0"

from .tasks import ns  # noqa: E402
from .tasks.chain import ChainExecutor  # noqa: E402

__all__ = ["ChainExecutor", "ns", "__version__"]
