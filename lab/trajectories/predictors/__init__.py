"""Predictors, one file each, behind the ``PREDICTORS`` registry.

A new predictor is a small dataclass subclassing :class:`Predictor` and overriding ``predict_windows``;
add it to ``PREDICTORS`` and :func:`make_predictor`, and the shared tests and the ``predict`` verb pick it up.
"""

from __future__ import annotations

from lab.core.errors import LabInputError
from lab.trajectories.predictors.base import Predictor
from lab.trajectories.predictors.cv import ConstantVelocity
from lab.trajectories.predictors.neural import GroupModel, NeuralPredictor, SequenceModel

PREDICTORS: dict[str, type[Predictor]] = {
    ConstantVelocity.name: ConstantVelocity,
    SequenceModel.name: SequenceModel,
    GroupModel.name: GroupModel,
}


def make_predictor(name: str, *, checkpoint: str = "", sigma_deg: float = 25.0, device: str = "cpu") -> Predictor:
    """The predictor ``name``; learned ones load ``checkpoint`` (a .pt with its card) or the shipped one."""
    if name not in PREDICTORS:
        raise LabInputError(f"unknown model {name!r}; choose from {', '.join(PREDICTORS)}.")
    if name == "cv":
        return ConstantVelocity(sigma_deg=sigma_deg)
    from lab.trajectories.zoo import load_model

    return PREDICTORS[name](model=load_model(name, checkpoint or None), device=device)


__all__ = ["PREDICTORS", "ConstantVelocity", "GroupModel", "NeuralPredictor", "Predictor", "SequenceModel",
           "make_predictor"]
