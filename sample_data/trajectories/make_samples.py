"""Write the trajectories lab's sample scenes (simulated only; never real ETH/UCY data).

    .venv/bin/python sample_data/trajectories/make_samples.py
"""

from pathlib import Path

from lab.trajectories.simulate import SimulateConfig, simulate

HERE = Path(__file__).resolve().parent


def main() -> None:
    crowd = simulate(SimulateConfig(kind="crowd", agents=16, steps=150, seed=7))
    (HERE / "crowd_seed7.txt").write_text(crowd.to_text())
    (HERE / "crowd_seed7.txt.groups.csv").write_text(crowd.groups_csv())
    springs = simulate(SimulateConfig(kind="springs", agents=5, steps=200, seed=7))
    (HERE / "springs_seed7.txt").write_text(springs.to_text())
    (HERE / "springs_seed7.txt.groups.csv").write_text(springs.groups_csv())
    (HERE / "springs_seed7.txt.edges.csv").write_text(springs.edges_csv())
    small = simulate(SimulateConfig(kind="crowd", agents=6, steps=40, seed=8))
    rows = ["frame,agent,x,y"] + [line.replace("\t", ",") for line in small.to_text().splitlines()]
    (HERE / "crowd_small.csv").write_text("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
