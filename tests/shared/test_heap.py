"""Start-up objects leave the collector's sight once per process (shared.heap)."""

import gc

from shared.heap import freeze_startup_objects


def test_startup_objects_are_frozen_once_per_process() -> None:
    freeze_startup_objects()
    frozen = gc.get_freeze_count()
    assert frozen > 10_000  # the imports of this test process, at least

    later = [[n] for n in range(5_000)]  # objects a request would leave
    freeze_startup_objects()
    assert gc.get_freeze_count() == frozen  # a second app would not freeze its garbage
    assert len(later) == 5_000
