"""A toy lab verb for the app tests: counts to ``steps``; its result says which data it saw."""

import dataclasses
import time

from lab.core.config import LabConfig
from lab.core.labs import LabSpec, Verb
from lab.core.progress import report


@dataclasses.dataclass(frozen=True)
class CountConfig(LabConfig):
    steps: int = 3
    delay: float = 0.05
    seed: int = 0


@dataclasses.dataclass
class CountResult:
    counted: int
    data: str

    def metrics(self):
        return {"counted": self.counted}

    def title(self):
        return f"count to {self.counted}"


def count(config, on_progress=None, data=None):
    done = 0
    for step in range(1, config.steps + 1):
        time.sleep(config.delay)
        done = step
        if report(on_progress, step, config.steps, {"loss": 1.0 / step}):
            break
    return CountResult(done, str(data))


TOY = LabSpec("pointer", "Toy", "Does it count?", ("none",), ":material/check:", "pages/pointer.py",
              verbs=(Verb("count", "toylab:CountConfig", "toylab:count"),))
