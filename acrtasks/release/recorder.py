"""What a chain records: the entries its pushing tasks made, per release, written as ``release-<version>`` once
the chain's last pushing task is done (one record for ``inv build push push-deps``), and kept afterwards: what
set-images writes is what this chain pushed."""

from typing import TYPE_CHECKING, Callable, Dict, Mapping, Optional, Sequence, Tuple

from ..config import Settings
from .record import ComponentEntry, DependencyEntry, Record, SignatureEntry, read, record_ref, write

if TYPE_CHECKING:  # the registry client (urllib3) is loaded only when a record is written
    from ..registry.client import Clients

#: The tasks whose pushes (and signatures) the release record records: the last of them in a chain writes it.
RECORDING_TASKS = ("build", "push", "push-deps", "import", "sign")


def release_key(settings: Settings) -> Tuple[str, str, str]:
    """One release of a chain: its version, where it is pushed, how it is named there."""
    return settings.version, settings.registry, settings.layout


class _Book:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.components: Dict[str, ComponentEntry] = {}
        self.dependencies: Dict[str, DependencyEntry] = {}
        self.signatures: Dict[str, SignatureEntry] = {}

    def add(self, components: Mapping[str, ComponentEntry], dependencies: Sequence[DependencyEntry],
            signatures: Sequence[SignatureEntry] = ()) -> None:
        self.components.update(components)
        self.dependencies.update({dep.source: dep for dep in dependencies})
        self.signatures.update({signature.image: signature for signature in signatures})

    def record(self) -> Record:
        return Record.of(self.settings, self.components, tuple(self.dependencies.values()))._replace(
            signatures=tuple(self.signatures.values()))


class Recorder:
    """The release records of one chain (``chain``: its task names, in order; ``clients``: the registry
    clients, asked for only when a record is written)."""

    def __init__(self, chain: Sequence[str], clients: Callable[[], "Clients"]):
        self.chain = tuple(chain)
        self._clients = clients
        self._todo: Dict[Tuple[str, str, str], _Book] = {}
        self._pushed: Dict[Tuple[str, str, str], _Book] = {}  # kept after the record is written

    def add(self, settings: Settings, components: Optional[Mapping[str, ComponentEntry]] = None,
            dependencies: Sequence[DependencyEntry] = (), signatures: Sequence[SignatureEntry] = ()) -> None:
        """What a push (or sign) of this chain made, for the record written after the chain's last of them."""
        for books in (self._todo, self._pushed):
            books.setdefault(release_key(settings), _Book(settings)).add(components or {}, dependencies, signatures)

    def pushed(self, settings: Settings) -> Optional[Record]:
        """What this chain pushed of ``settings``' release, as a record; None when it pushed nothing of it."""
        book = self._pushed.get(release_key(settings))
        return book.record() if book else None

    def write(self, task: str, say: Callable[[str], None], skip: bool = False) -> None:
        """Write (or update) ``release-<version>`` once the chain's last pushing task is done. ``skip``:
        --no-record."""
        later = self.chain[self.chain.index(task) + 1:] if task in self.chain else ()
        if skip or any(name in RECORDING_TASKS for name in later):
            return
        for book in list(self._todo.values()):
            ref = record_ref(book.settings.naming, book.settings.version)
            if ref is None or not (book.components or book.dependencies or book.signatures):
                continue
            new = book.record()
            earlier = read(self._clients(), ref)
            digest = write(self._clients(), ref, earlier.merged(new) if earlier else new)
            say("release record:")  # a ref takes a line of its own: it is kept whole on an 80-column terminal
            say(f"  {ref}")
            say(f"  {digest}")
        self._todo.clear()
