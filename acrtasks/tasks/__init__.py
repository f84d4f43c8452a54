"""The Invoke tasks, one module per area; each task thin: read flags, compute a plan, hand it to the stage.

- ``build.py``: build, push (the build stage, ``acrtasks.components``)
- ``deps.py``: push-deps
- ``delivery.py``: export, import, pull
- ``deploy.py``: set-images
- ``account.py``: login, logout
- ``naming.py``: test-naming
- ``release.py``: show-release, promote
- ``sign.py``: sign (``acrtasks.supply``)

``common.py`` holds the one error boundary and the help of the flags chained
tasks share; ``run.py`` the Run a chain shares (settings, engine, warnings);
``chain.py`` the collection and executor that take a flag anywhere in a chain to every task having it. The modules behind the tasks (and
docker-py) are imported inside the tasks that use them: ``inv --list`` and
``inv test-naming`` must start about as fast as Invoke itself
(bench/cli_latency.py).
"""

from invoke import Collection

from .account import login, logout
from .build import build, push
from ..util.console import quiet_on_closed_pipe
from .chain import SharedFlags
from .delivery import export, import_, pull
from .deploy import set_images
from .deps import push_deps
from .naming import test_naming
from .release import promote, show_release
from .sign import sign

ns = Collection(build, push, push_deps, login, logout, test_naming, set_images, export, import_, pull, show_release,
                promote, sign)
_flags = SharedFlags(ns)  # every task takes every flag of a chain (tasks/chain.py)
for _task in ns.tasks.values():
    _task.shared_flags = _flags
quiet_on_closed_pipe()  # `inv ... | head`: a closed pipe ends the program quietly
