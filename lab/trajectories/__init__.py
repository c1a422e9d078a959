"""Trajectory groups: who moves with whom (not built yet: no verbs)."""

from lab.core.labs import LabSpec

LAB = LabSpec(
    key="trajectories",
    title="Trajectory groups",
    question="Who moves with whom, and does knowing it improve prediction?",
    papers=("Xu et al. 2022, DynGroupNet", "Kipf et al. 2018, NRI"),
    icon=":material/groups:",
    page="pages/trajectories.py",
    order=50,
    aliases=("traj",),
)
