"""The run store: one folder per finished run, so nothing computed is lost on a reload.

Layout (default root ``runs/`` in the working directory; ``DYNLAB_HOME`` overrides)::

    runs/<run_id>/
        meta.json       lab, created, seed, device, versions, title
        config.json     the config the run was made from
        metrics.json    scalar metrics and optional ``"curves": {name: [values]}``
        artifacts/      checkpoints, CSVs, plotly figures (``*.plotly.json``)

A run is written into a hidden temp folder and renamed into place, so a crash never leaves a
half-written run. A run exports as one JSON *lab card* that can be imported elsewhere and re-run.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import shutil
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lab.core.errors import LabInputError
from lab.core.files import atomic_write_bytes, atomic_write_json, atomic_write_text, to_jsonable

log = logging.getLogger(__name__)

CARD_FORMAT = "dynlab-lab-card"
CARD_VERSION = 1
_RUN_ID = re.compile(r"^[a-z0-9_]+-\d{8}-\d{6}-[0-9a-f]{6}$")


def default_root() -> Path:
    return Path(os.environ.get("DYNLAB_HOME", "runs")).expanduser()


def package_versions() -> dict[str, str]:
    """Versions of the packages that decide a run's numbers."""
    from importlib import metadata

    import lab

    versions = {"python": platform.python_version(), "dynlab": lab.__version__}
    for dist in ("torch", "numpy", "scipy", "scikit-learn", "tensorly", "networkx", "plotly"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return versions


@dataclass
class Run:
    """A saved run as read back from disk."""

    run_id: str
    lab: str
    created: str
    config: dict[str, Any]
    metrics: dict[str, Any]
    meta: dict[str, Any]
    path: Path
    artifacts: list[str] = field(default_factory=list)

    @property
    def scalar_metrics(self) -> dict[str, float]:
        return {k: v for k, v in self.metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}

    @property
    def verb(self) -> str:
        return str(self.meta.get("verb") or "")

    @property
    def status(self) -> str:
        """``done``, ``stopped`` or ``failed`` (runs saved before statuses were kept: from their metrics)."""
        if self.meta.get("status"):
            return str(self.meta["status"])
        return "stopped" if self.metrics.get("stopped_early") else "done"

    @property
    def curves(self) -> dict[str, list[float]]:
        curves = self.metrics.get("curves", {})
        return curves if isinstance(curves, dict) else {}

    def artifact_path(self, name: str) -> Path:
        return self.path / "artifacts" / name


class RunStore:
    """A folder of runs. All methods are safe to call from several threads."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()

    # -- writing ---------------------------------------------------------------------------------
    def save_run(
        self,
        lab: str,
        config: Mapping[str, Any],
        metrics: Mapping[str, Any],
        artifacts: Mapping[str, bytes | str | Path] | None = None,
        *,
        seed: int | None = None,
        device: str | None = None,
        title: str | None = None,
        extra_meta: Mapping[str, Any] | None = None,
    ) -> str:
        """Save a finished run and return its id.

        ``artifacts`` maps a file name to its content: ``bytes``, ``str`` (written as UTF-8) or a
        ``Path`` to copy. Names may not contain path separators.
        """
        if not re.fullmatch(r"[a-z0-9_]+", lab):
            raise ValueError(f"lab name must be lowercase letters, digits or _, got {lab!r}")
        now = datetime.now(UTC)
        run_id = f"{lab}-{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
        if seed is None and isinstance(config.get("seed"), int):
            seed = config["seed"]
        meta = {
            "run_id": run_id,
            "lab": lab,
            "created": now.isoformat(timespec="seconds"),
            "seed": seed,
            "device": device,
            "title": title or "",
            "versions": package_versions(),
            **dict(extra_meta or {}),
        }
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=f".{run_id}."))
        try:
            atomic_write_json(tmp / "meta.json", meta)
            atomic_write_json(tmp / "config.json", dict(config))
            atomic_write_json(tmp / "metrics.json", dict(metrics))
            art_dir = tmp / "artifacts"
            art_dir.mkdir()
            for name, content in (artifacts or {}).items():
                if "/" in name or "\\" in name or name.startswith("."):
                    raise ValueError(f"artifact name {name!r} must be a plain file name")
                target = art_dir / name
                if isinstance(content, Path):
                    shutil.copyfile(content, target)
                elif isinstance(content, str):
                    target.write_text(content, encoding="utf-8")
                else:
                    target.write_bytes(bytes(content))
            os.rename(tmp, self.root / run_id)  # atomic on one file system
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return run_id

    def update_run(
        self,
        run_id: str,
        *,
        metrics: Mapping[str, Any] | None = None,
        artifacts: Mapping[str, bytes | str] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        """Replace a run's metrics, add or replace artifacts, merge ``meta`` -- each file atomically.

        For work saved as it goes (a sweep): a crash leaves the last complete state, never half a file.
        """
        path = self._path(run_id)
        if meta:
            current = json.loads((path / "meta.json").read_text())
            atomic_write_json(path / "meta.json", {**current, **dict(meta)})
        if metrics is not None:
            atomic_write_json(path / "metrics.json", dict(metrics))
        for name, content in (artifacts or {}).items():
            if "/" in name or "\\" in name or name.startswith("."):
                raise ValueError(f"artifact name {name!r} must be a plain file name")
            target = path / "artifacts" / name
            target.parent.mkdir(exist_ok=True)
            if isinstance(content, str):
                atomic_write_text(target, content)
            else:
                atomic_write_bytes(target, bytes(content))

    def delete_run(self, run_id: str) -> None:
        path = self._path(run_id)
        # Rename first so a reader never sees a half-deleted run.
        trash = self.root / f".deleted-{run_id}-{uuid.uuid4().hex[:6]}"
        os.rename(path, trash)
        shutil.rmtree(trash, ignore_errors=True)

    # -- reading ---------------------------------------------------------------------------------
    def _path(self, run_id: str) -> Path:
        if not _RUN_ID.match(run_id):
            raise LabInputError(f"'{run_id}' is not a run id; list runs with `dynlab runs list`.")
        path = self.root / run_id
        if not (path / "meta.json").exists():
            raise LabInputError(f"No run '{run_id}' in {self.root}; list runs with `dynlab runs list`.")
        return path

    def load_run(self, run_id: str) -> Run:
        path = self._path(run_id)
        meta = json.loads((path / "meta.json").read_text())
        art_dir = path / "artifacts"
        return Run(
            run_id=run_id,
            lab=meta["lab"],
            created=meta["created"],
            config=json.loads((path / "config.json").read_text()),
            metrics=json.loads((path / "metrics.json").read_text()),
            meta=meta,
            path=path,
            artifacts=sorted(p.name for p in art_dir.iterdir()) if art_dir.exists() else [],
        )

    def list_runs(self, lab: str | None = None) -> list[Run]:
        """All complete runs, newest first; ``lab`` filters by lab name."""
        if not self.root.exists():
            return []
        runs = []
        for path in self.root.iterdir():
            if path.name.startswith(".") or not _RUN_ID.match(path.name):
                continue
            try:
                run = self.load_run(path.name)
            except (OSError, ValueError, KeyError, LabInputError) as err:
                log.warning("skipping the damaged run folder %s: %s", path, err)
                continue  # a damaged run folder is skipped, not fatal
            if lab is None or run.lab == lab:
                runs.append(run)
        return sorted(runs, key=lambda r: (r.created, r.run_id), reverse=True)

    # -- lab cards -------------------------------------------------------------------------------
    def export_card(self, run_id: str) -> dict[str, Any]:
        """The run as one JSON-able lab card: config, seed, versions, device, metrics."""
        run = self.load_run(run_id)
        return {
            "format": CARD_FORMAT,
            "version": CARD_VERSION,
            "run_id": run.run_id,
            "lab": run.lab,
            "created": run.created,
            "title": run.meta.get("title", ""),
            "verb": run.verb,
            "status": run.status,
            "seed": run.meta.get("seed"),
            "device": run.meta.get("device"),
            "versions": run.meta.get("versions", {}),
            "config": run.config,
            "metrics": run.metrics,
        }

    def import_card(self, card: Any) -> str:
        """Store a lab card as a run (without artifacts) and return the new run id."""
        card = validate_card(card)
        return self.save_run(
            card["lab"],
            card["config"],
            card["metrics"],
            seed=card.get("seed"),
            device=card.get("device"),
            title=card.get("title") or f"imported {card.get('run_id', '')}".strip(),
            extra_meta={"imported_from": card.get("run_id"), "imported_versions": card.get("versions", {}),
                        "verb": card.get("verb") or "", "status": card.get("status") or ""},
        )


def validate_card(card: Any) -> dict[str, Any]:
    """Check that ``card`` is a lab card; raise :class:`LabInputError` with what is wrong."""
    from lab.core.registry import lab_keys

    if not isinstance(card, dict):
        raise LabInputError("A lab card must be a JSON object; export one from the Runs page or `dynlab runs export`.")
    if card.get("format") != CARD_FORMAT:
        raise LabInputError(f"This JSON is not a dynlab lab card (format is {card.get('format')!r}, expected '{CARD_FORMAT}').")
    if card.get("version") != CARD_VERSION:
        raise LabInputError(f"Lab card version {card.get('version')!r} is not supported; this dynlab reads version {CARD_VERSION}.")
    if card.get("lab") not in lab_keys():
        raise LabInputError(f"Lab card names an unknown lab {card.get('lab')!r}; known labs: {', '.join(lab_keys())}.")
    for key in ("config", "metrics"):
        if not isinstance(card.get(key), dict):
            raise LabInputError(f"Lab card has no '{key}' object; re-export it with dynlab.")
    return to_jsonable(card)
