"""What a solve returns: one :class:`InstanceResult` per instance and the :class:`SolveResult` over them.

Split from :mod:`lab.pointer.service` (which computes them) so that the page, the CLI and the run store
read one definition of the numbers a solve reports: per instance JSON, downloads and headline rows; over
instances the aggregates (gaps and accuracies as fractions; percent only in the words for people).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from lab.core.files import to_jsonable

if TYPE_CHECKING:
    from lab.pointer.service import SolveConfig

#: Mean metrics of a solve, per task, in the order a page shows them (see :meth:`SolveResult.aggregates`).
HEADLINE = {"tsp": ("mean_gap", "mean_length"), "hull": ("accuracy", "area_coverage"),
            "delaunay": ("accuracy", "triangle_coverage")}


@dataclass
class InstanceResult:
    """One instance: the method's output next to the reference, in the instance's own units.

    ``output`` is a tour (n,) for TSP, hull indices (h,) for hull, triangles (T, 3) for Delaunay.
    ``attention`` is (steps, m) — the pointer distribution per decoding step (m = n, or n + 1 with EOS).
    """

    name: str
    points: np.ndarray
    distance: str
    output: np.ndarray
    reference: np.ndarray | None
    length: float | None = None
    reference_length: float | None = None
    gap: float | None = None
    valid: bool = True
    scores: dict[str, float] = field(default_factory=dict)
    attention: np.ndarray | None = None
    sequence: list[int] = field(default_factory=list)
    seconds: float = 0.0
    reference_seconds: float = 0.0
    polished: np.ndarray | None = None  # TSP with polish: the method's tour after 2-opt + Or-opt
    polished_length: float | None = None
    polished_gap: float | None = None
    polish_seconds: float = 0.0

    def to_json(self, task: str) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "n": int(len(self.points)), "valid": bool(self.valid)}
        if task == "tsp":
            out.update(tour=[int(i) for i in self.output], length=self.length,
                       reference_length=self.reference_length, gap=self.gap)
        elif task == "hull":
            out.update(hull=[int(i) for i in self.output])
        else:
            out.update(triangles=np.asarray(self.output).astype(int).tolist())
        if task != "tsp":
            out.update({k: v for k, v in self.scores.items() if k != "valid"})
        if self.polished is not None:  # the method's own tour stays above; the local search's result beside it
            out.update(polished_tour=[int(i) for i in self.polished], polished_length=self.polished_length,
                       polished_gap=self.polished_gap, polish_seconds=self.polish_seconds)
        return out

    def downloads(self, task: str) -> dict[str, tuple[str, str]]:
        """``{label: (text, file name)}``: the output as TSPLIB .tour and CSV (TSP) or CSV (hull, Delaunay)."""
        from lab.pointer.io import output_csv, tour_csv, tour_text

        if task == "tsp":
            files = {"Tour (.tour)": (tour_text(self.output, self.name, self.length), f"{self.name}.tour"),
                     "Tour (CSV)": (tour_csv(self.points, self.output), f"{self.name}_tour.csv")}
            if self.polished is not None:
                files["Polished tour (.tour)"] = (tour_text(self.polished, self.name, self.polished_length),
                                                  f"{self.name}_polished.tour")
            return files
        return {"Output (CSV)": (output_csv(task, self.output), f"{self.name}_{task}.csv")}

    def headline(self, task: str) -> list[tuple[str, str, str]]:
        """``(label, value, help)`` of the numbers a page shows first for this instance."""
        if task == "tsp":
            ref = "-" if self.reference_length is None else f"{self.reference_length:.6g}"
            rows = [("Length", f"{self.length:.6g}", "in the file's own units; TSPLIB files use their distance rule"),
                    ("Reference", ref, "fast-tsp (exact on integer-rounded distances up to 20 points, local search "
                                       "beyond), then 2-opt + Or-opt on the real distances; a method's tour that is "
                                       "shorter still becomes the reference: a gap is never negative"),
                    ("Gap", f"{100 * self.gap:.2f} %" if self.gap is not None else "-", "length / reference - 1")]
            if self.polished is not None:
                gap = "" if self.polished_gap is None else f" ({100 * self.polished_gap:.2f} %)"
                rows.append(("Polished", f"{self.polished_length:.6g}{gap}",
                             f"the tour above after 2-opt + Or-opt local search ({1000 * self.polish_seconds:.0f} "
                             "ms); length, gap and figure stay the method's own"))
        else:
            cov = HEADLINE[task][1]
            rows = [("Exact match", "yes" if self.scores.get("accuracy") else "no", "the exact label, as a set"),
                    (cov.replace("_", " ").capitalize(), f"{100 * self.scores[cov]:.1f} %", "of the exact label's"),
                    ("Output size", f"{len(self.output)} vs {len(self.reference)}", "predicted vs exact")]
        return rows + [("Valid", "yes" if self.valid else "no", "TSP: a permutation; hull: a simple polygon; Delaunay: distinct triangles whose edges never cross"),
                       ("Time", f"{1000 * self.seconds:.0f} ms", f"reference: {1000 * self.reference_seconds:.0f} ms")]


@dataclass
class SolveResult:
    """Instances solved by one method (all of them, or those before a stop request)."""

    config: SolveConfig
    method: str
    instances: list[InstanceResult]
    seconds: float
    note: str = ""
    total: int = 0  # instances asked for (more than ``len(instances)`` after a stop)

    def aggregates(self) -> dict[str, float | None]:
        """Means over instances: length/gap (TSP) or accuracy and coverage (hull, Delaunay)."""
        task = self.config.task
        agg: dict[str, float | None] = {"valid_fraction": float(np.mean([r.valid for r in self.instances]))}
        if task == "tsp":
            agg["mean_length"] = float(np.mean([r.length for r in self.instances]))
            gaps = [r.gap for r in self.instances if r.gap is not None]
            agg["mean_gap"] = float(np.mean(gaps)) if gaps and len(gaps) == len(self.instances) else None
            refs = [r.reference_length for r in self.instances if r.reference_length is not None]
            agg["mean_reference_length"] = float(np.mean(refs)) if refs else None
            if self.config.polish:
                agg["mean_polished_length"] = float(np.mean([r.polished_length for r in self.instances]))
                pgaps = [r.polished_gap for r in self.instances if r.polished_gap is not None]
                agg["mean_polished_gap"] = float(np.mean(pgaps)) if pgaps and len(pgaps) == len(self.instances) else None
        else:
            for k in HEADLINE[task]:
                agg[k] = float(np.mean([r.scores[k] for r in self.instances]))
        model_time = sum(r.seconds for r in self.instances)
        agg["instances_per_second"] = len(self.instances) / model_time if model_time > 0 else None
        return agg

    def summary(self) -> str:
        """The aggregates in words for people: fractions (gaps, accuracies, coverages) in percent."""
        parts = []
        for key, value in self.aggregates().items():
            if not isinstance(value, float):
                continue
            percent = any(word in key for word in ("gap", "accuracy", "coverage", "fraction"))
            parts.append(f"{key.replace('_', ' ')}: " + (f"{100 * value:.2f} %" if percent else f"{value:.4g}"))
        return "  ·  ".join(parts)

    # -- the verb result contract (lab.core.labs) ----------------------------------------------------
    def metrics(self) -> dict[str, Any]:
        """Aggregates plus counts; only ``seconds`` and ``instances_per_second`` vary between equal runs."""
        return {**self.aggregates(), "instances": len(self.instances), "seconds": self.seconds}

    def to_json(self) -> dict[str, Any]:
        """The ``dynlab pointer solve --json`` document."""
        doc: dict[str, Any] = {"task": self.config.task, "method": self.method,
                               "instances": [r.to_json(self.config.task) for r in self.instances]}
        doc.update(self.aggregates())
        doc["seconds"] = self.seconds
        if self.note:
            doc["note"] = self.note
        return doc

    def artifacts(self) -> dict[str, str]:
        return {"result.json": json.dumps(to_jsonable(self.to_json())), "metrics.csv": rows_csv(self.rows())}

    def title(self) -> str:
        return f"solve {self.config.task}: {self.method} on {len(self.instances)} instance(s)"

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per instance, for tables and the metrics CSV."""
        rows = []
        for i, r in enumerate(self.instances):
            row: dict[str, Any] = {"instance": i, "name": r.name, "n": len(r.points), "valid": bool(r.valid)}
            if self.config.task == "tsp":
                row.update(length=r.length, reference_length=r.reference_length,
                           gap_percent=None if r.gap is None else 100 * r.gap)
                if r.polished is not None:
                    row.update(polished_length=r.polished_length,
                               polished_gap_percent=None if r.polished_gap is None else 100 * r.polished_gap)
            else:
                row.update({k: v for k, v in r.scores.items() if k != "valid"})
            row.update(seconds=r.seconds, reference_seconds=r.reference_seconds)
            rows.append(row)
        return rows


def rows_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """A list of flat dicts as CSV text (header from the first row)."""
    if not rows:
        return ""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()
