"""A toy lab verb for the core and app tests: counts to ``steps``; its result says which data it saw.

``crash=True`` kills the process running it -- only ever inside a Ray worker (the fault tests).
"""

import dataclasses
import os
import random
import time

from lab.core.config import LabConfig
from lab.core.labs import LabSpec, Verb
from lab.core.progress import report


@dataclasses.dataclass(frozen=True)
class CountConfig(LabConfig):
    steps: int = 3
    delay: float = 0.05
    scale: float = 1.0
    crash: bool = False
    seed: int = 0


@dataclasses.dataclass
class CountResult:
    counted: int
    data: str
    value: float = 0.0

    def metrics(self):
        return {"counted": self.counted, "value": self.value}

    def title(self):
        return f"count to {self.counted}"


def _in_ray_worker() -> bool:
    try:
        import ray

        return ray.is_initialized() and ray.get_runtime_context().worker.mode == ray.WORKER_MODE
    except Exception:  # noqa: BLE001
        return False


def count(config, on_progress=None, data=None):
    if config.crash and _in_ray_worker():
        os._exit(1)  # the worker dies, as a node lost mid-sweep would
    done = 0
    for step in range(1, config.steps + 1):
        time.sleep(config.delay)
        done = step
        if report(on_progress, step, config.steps, {"loss": 1.0 / step}):
            break
    return CountResult(done, str(data), config.scale * random.Random(config.seed).random())


TOY = LabSpec("pointer", "Toy", "Does it count?", ("none",), ":material/check:", "pages/pointer.py",
              verbs=(Verb("count", "toylab:CountConfig", "toylab:count"),))
