"""Pausing the cyclic garbage collector around bulk object construction."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["gc_paused"]


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the duration of the block.

    Loading a large catalog or translating a large gateway creates hundreds of thousands
    of dicts, lists and model objects that are all kept (they are the result) and none of
    which is in a reference cycle; every collection those allocations trigger walks all of
    them for nothing, which doubles the time taken. Reference counting still frees
    everything as usual. The collector's previous state is restored; if it was already
    disabled it is left alone.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
