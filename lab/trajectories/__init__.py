"""Trajectory groups: who moves with whom, and does knowing it help prediction (DynGroupNet, NRI).

``data`` (ETH/UCY and CSV readers, ground-truth sidecars, windows) and ``simulate`` (dynamic springs, a
crowd walking in groups) -> ``predictors`` (constant velocity, sequence model, group model; one file each)
-> ``predict`` (ADE/FDE/minADE/minFDE on sliding windows), ``groups`` (groups per frame, ARI), ``nri``
(edge types on springs, edge accuracy), ``train`` -> ``figures`` (plotly) and ``cli`` (``dynlab traj ...``).
"""

from lab.core.labs import LabSpec, Verb

_SMALL = {"agents": 8, "frames": 40}

LAB = LabSpec(
    key="trajectories",
    title="Trajectory groups",
    question="Who moves with whom, and does knowing it improve prediction?",
    papers=("Xu et al. 2022, DynGroupNet", "Kipf et al. 2018, NRI", "Schöller et al. 2020, constant velocity"),
    icon=":material/groups:",
    page="pages/trajectories.py",
    order=50,
    aliases=("traj",),
    cli="lab.trajectories.cli",
    verbs=(
        Verb("simulate", "lab.trajectories.simulate:SimulateConfig", "lab.trajectories.simulate:run_simulate",
             help="simulate a crowd in groups or dynamic springs, written in the ETH/UCY format with ground truth",
             example={"kind": "crowd", "agents": 8, "steps": 40}),
        Verb("predict", "lab.trajectories.predict:PredictConfig", "lab.trajectories.predict:run_predict",
             help="ADE/FDE/minADE/minFDE of each model on every sliding window of a scene",
             example={**_SMALL, "models": ["cv", "seq", "group"], "samples": 5}),
        Verb("train", "lab.trajectories.train:TrainConfig", "lab.trajectories.train:run_train",
             help="train the group or sequence model on scenes (progress, stop keeps the model)",
             example={"model": "group", "scenes": 1, **_SMALL, "steps": 3, "batch": 4, "eval_every": 2}),
        Verb("groups", "lab.trajectories.groups:GroupsConfig", "lab.trajectories.groups:run_groups",
             help="groups per frame (group model or distance/velocity rule); ARI where truth exists",
             example={**_SMALL}),
        Verb("edges", "lab.trajectories.nri:EdgesConfig", "lab.trajectories.nri:run_edges",
             help="NRI edge types on dynamic springs, without labels: edge accuracy on held-out seeds",
             example={"frames": 60, "train_scenes": 1, "test_scenes": 1, "train_steps": 3, "batch": 4}),
    ),
)
