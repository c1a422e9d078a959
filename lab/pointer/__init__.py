"""Pointer tours: Pointer Networks, the attention model and POMO on convex hull, Delaunay and TSP.

Verbs: ``solve`` (a model or a classical solver on random or given instances, scored against the
reference), ``train`` (supervised / imitation, then POMO fine-tuning), ``fit-start`` (a start head for a
trained attention model) and ``generalise`` (one model's
metrics as n grows, far past its training range).
"""

from lab.core.labs import LabSpec, Verb

LAB = LabSpec(
    key="pointer",
    title="Pointer tours",
    question="Can attention point at its inputs to solve convex hull, Delaunay and TSP - how close to optimal, "
             "how far beyond the training size?",
    papers=("Vinyals et al. 2015, Pointer Networks", "Kool et al. 2019, Attention, Learn to Solve Routing Problems!",
            "Kwon et al. 2020, POMO"),
    icon=":material/route:",
    page="pages/pointer.py",
    order=10,
    cli="lab.pointer.cli",
    verbs=(
        Verb("solve", "lab.pointer.service:SolveConfig", "lab.pointer.service:run_solve",
             help="solve random or given instances with a model or a classical solver, against the reference",
             example={"task": "tsp", "model": "am", "n": 8, "num": 2, "decode": "sample", "num_samples": 4}),
        Verb("train", "lab.pointer.train:TrainConfig", "lab.pointer.train:run_train",
             help="train a pointer model (progress on stderr; Ctrl-C stops and keeps the result)",
             example={"task": "hull", "model": "ptrnet", "n_min": 5, "n_max": 6, "hidden": 16, "steps": 6,
                      "batch_size": 8, "eval_num": 4}),
        Verb("fit-start", "lab.pointer.fit_start:FitStartConfig", "lab.pointer.fit_start:run_fit_start",
             help="fit a start head to an attention model: where its single greedy rollout starts",
             example={"checkpoint": "am_tsp20", "n": 8, "instances": 6, "val_instances": 4, "epochs": 2,
                      "batch_size": 4}),
        Verb("generalise", "lab.pointer.generalisation:GeneraliseConfig", "lab.pointer.generalisation:run_generalise",
             help="measure one model's gap / accuracy as n grows (seeded instances, seed + n per size)",
             example={"task": "hull", "model": "ptrnet", "checkpoint": "untrained", "sizes": [5, 8], "num": 4}),
    ),
)
