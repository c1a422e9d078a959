"""Small / big / skip routes: the exhaustive route table against brute force, the oracles against brute-force
search, random routes' expected compute, the router's walk, training, and ``dynlab routing routes``."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lab.cli import main
from lab.core.errors import LabInputError
from lab.routing.routes import Routers, RoutesConfig, run_routes
from lab.routing.routes_model import (
    Arch,
    RoutesLM,
    ffn_macs,
    route_code,
    route_digits,
    route_name,
    route_table,
)
from lab.routing.routes_oracle import (
    best_routes,
    capped_oracle,
    layer_costs,
    learned_at_budget,
    learned_routes,
    oracle_at_budget,
    random_layer_probs,
    route_costs,
    route_probs,
)


def _model(layers: int = 2, seed: int = 0) -> RoutesLM:
    torch.manual_seed(seed)
    return RoutesLM(Arch(vocab=11, layers=layers, d_model=16, heads=2, small_hidden=4, big_hidden=24, context=8))


def test_route_codes_are_base_3_first_layer_first():
    assert route_code([2, 0, 1]) == 19 and route_digits(19, 3).tolist() == [2, 0, 1]
    assert route_name(19, 3) == "B - s"


def test_ffn_macs_are_the_hand_count():
    small, big = ffn_macs(_model())
    assert (small, big) == (16 * 4 + 4 * 16, 16 * 24 + 24 * 16)
    cost = route_costs(small, big, 2)
    assert cost[0] == 0 and cost[-1] == 1 and cost[route_code([1, 2])] == pytest.approx((128 + 768) / 1536)


def test_route_table_matches_brute_force_on_a_2_layer_model():
    """Every position under every route: the table equals a full forward pass with that one token rerouted."""
    model = _model(2).eval()
    routers = Routers(16, 2)
    tokens = torch.randint(0, 11, (2, 7), generator=torch.Generator().manual_seed(1))
    inp, target = tokens[:, :-1], tokens[:, 1:]
    b, t = inp.shape
    table = route_table(model, tokens, router=routers, keep_inputs=True)
    assert table.loss.shape == (b * t, 9)
    with torch.no_grad():
        for code in range(9):
            for bi, ti in itertools.product(range(b), range(t)):
                routes = torch.full((b, t, 2), 2)  # everyone else on the reference route (all big)
                routes[bi, ti] = route_digits(code, 2)
                ce = F.cross_entropy(model(inp, routes)[bi, ti], target[bi, ti])
                assert float(table.loss[bi * t + ti, code]) == pytest.approx(float(ce), abs=1e-5)
        # the router at layer 0 sees the reference state; at layer 1 after prefix c, the state of route (c, .)
        x = model.embed_tokens(inp)
        blk = model.blocks[0]
        x = x + blk.attn(blk.ln1(x))
        u0 = blk.ln2(x).reshape(b * t, -1)
        assert torch.allclose(table.router_logits[0][:, 0], routers(0, u0), atol=1e-5)
        y_small = x + blk.small(blk.ln2(x))  # prefix "small" at layer 0, only for position (0, 0) ...
        blk1 = model.blocks[1]
        h = blk1.ln1(y_small)[:, :1]  # ... which, at position 0, attends to itself alone
        u1 = blk1.ln2(y_small[:, :1] + blk1.attn(h))
        assert torch.allclose(table.inputs[1][[0, t], 1], u1[:, 0], atol=1e-5)


def _brute_force(loss: np.ndarray, cost: np.ndarray, budget: float) -> float:
    """Least mean loss over every assignment of routes to the tokens with mean compute <= budget."""
    n, r = loss.shape
    best = np.inf
    for assign in itertools.product(range(r), repeat=n):
        idx = np.array(assign)
        if cost[idx].mean() <= budget + 1e-12:
            best = min(best, loss[np.arange(n), idx].mean())
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_oracle_at_a_budget_is_optimal_for_the_compute_it_spends(seed):
    rng = np.random.default_rng(seed)
    cost = route_costs(1, 4, 2)  # 9 routes
    loss = rng.uniform(0, 3, size=(4, 9))
    for budget in (0.0, 0.2, 0.37, 0.5, 0.8, 1.0):
        routes, lam = oracle_at_budget(loss, cost, budget)
        spent = cost[routes].mean()
        assert spent <= budget + 1e-12 and lam >= 0
        assert loss[np.arange(4), routes].mean() == pytest.approx(_brute_force(loss, cost, spent))
    assert (oracle_at_budget(loss, cost, 1.0)[0] == loss.argmin(1)).all()  # enough budget: each its best
    assert (oracle_at_budget(loss, cost, 0.0)[0] == 0).all()


def test_best_route_and_capped_oracle_against_brute_force():
    rng = np.random.default_rng(3)
    cost = route_costs(1, 4, 2)
    loss = rng.uniform(0, 1, size=(6, 9))
    loss[0] = 1.0  # all routes tie: the cheapest (all skip)
    loss[1, [3, 8]] = 0.0  # two routes reach the best: the cheaper one (small, skip) = 3
    for tol in (0.0, 0.1):
        best = best_routes(loss, cost, tol)
        for n in range(6):
            ok = [r for r in range(9) if loss[n, r] <= loss[n].min() + tol]
            assert best[n] == min(ok, key=lambda r: (cost[r], loss[n, r]))
    assert best_routes(loss, cost)[:2].tolist() == [0, 3]
    for cap in (0.0, 0.3, 0.6, 1.0):
        capped = capped_oracle(loss, cost, cap)
        for n in range(6):
            allowed = [r for r in range(9) if cost[r] <= cap + 1e-12]
            assert loss[n, capped[n]] == min(loss[n, r] for r in allowed) and cost[capped[n]] <= cap + 1e-12


@pytest.mark.parametrize("budget", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_random_routes_spend_the_budget_in_expectation(budget):
    lc = layer_costs(32, 256, 3)
    p = random_layer_probs(lc, budget)
    assert p.sum() == pytest.approx(1.0) and (p >= 0).all()
    assert route_probs(p, 3) @ route_costs(32, 256, 3) == pytest.approx(budget, abs=1e-9)
    uniform = random_layer_probs(lc, lc.mean() / lc[-1])  # the training distribution: 1/3 each
    assert uniform == pytest.approx(np.full(3, 1 / 3))


def test_the_router_walks_its_own_prefixes_and_the_cost_offset_moves_it():
    # layer 0: token 0 prefers big, token 1 skip; layer 1 (after each prefix) prefers small, except after big
    lp0 = np.log(np.array([[[0.1, 0.2, 0.7]], [[0.8, 0.1, 0.1]]]))
    lp1 = np.log(np.tile(np.array([[0.2, 0.6, 0.2], [0.2, 0.6, 0.2], [0.1, 0.1, 0.8]]), (2, 1, 1)))
    lc = layer_costs(1, 4, 2)
    assert learned_routes([lp0, lp1], lc, 0.0).tolist() == [route_code([2, 2]), route_code([0, 1])]
    assert learned_routes([lp0, lp1], lc, 100.0).tolist() == [0, 0]
    cost = route_costs(1, 4, 2)
    for budget in (0.1, 0.4, 0.8):
        routes, _ = learned_at_budget([lp0, lp1], lc, cost, budget)
        assert cost[routes].mean() <= budget + 1e-12


def test_a_few_training_steps_reduce_the_loss_and_the_result_holds_together():
    config = RoutesConfig(steps=60, router_steps=30, layers=2, d_model=32, context=24, batch_size=8,
                          big_hidden=64, small_hidden=16, router_batches=1, eval_batches=1)
    result = run_routes(config)
    loss = result.curves["loss"]
    assert sum(loss[-10:]) / 10 < sum(loss[:10]) / 10 - 0.2
    pts = result.points
    assert pts["oracle"].loss <= min(pts["learned"].loss, pts["random"].loss, pts["oracle_capped"].loss) + 1e-9
    for name in ("oracle", "learned", "random"):
        assert pts[name].compute <= 0.5 + 1e-9
    assert pts["random"].compute == pytest.approx(0.5) and abs(pts["learned"].compute - 0.5) < 0.05
    assert result.gap == pytest.approx(pts["learned"].loss - pts["oracle"].loss)
    assert len(result.passage.tokens) == 24 and len(result.passage.loss[0]) == 9
    assert [len(lp[0]) for lp in result.passage.log_probs] == [1, 3]
    assert result.static["all_big"]["compute"] == 1.0 and result.macs["big_ffn"] == 2 * 32 * 64
    json.dumps(result.to_json())


@pytest.mark.parametrize("values,words", [({"budget": 1.5}, "budget"), ({"layers": 6}, "layers"),
                                          ({"small_hidden": 64, "big_hidden": 64}, "small"),
                                          ({"corpus": "wiki"}, "corpus"), ({"tolerance": -1}, "tolerance")])
def test_bad_configs_are_one_sentence(values, words):
    with pytest.raises(LabInputError, match=words):
        RoutesConfig(**values)


def test_cli_prints_oracle_learned_and_random_at_the_budget(capsys):
    assert main(["routing", "routes", "--steps", "5", "--router-steps", "5", "--layers", "2", "--d-model", "16",
                 "--context", "12", "--batch-size", "4", "--big-hidden", "32", "--small-hidden", "8",
                 "--router-batches", "1", "--eval-batches", "1", "--budget", "0.4", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["budget"] == 0.4 and "run_id" in doc
    for name in ("oracle", "learned", "random"):
        assert {"loss", "compute"} <= set(doc[name]) and doc[name]["compute"] <= 0.4 + 1e-9
    for bad in (["--budget", "2"], ["--layers", "9"], ["--corpus", "nope"], ["--steps", "x"]):
        assert _exit_code(["routing", "routes", *bad, "--json"]) == 2
        out = capsys.readouterr()
        assert out.err.count("\n") == 1 and "Traceback" not in out.err and out.out == ""


def _exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exit_info:  # argparse's own errors (a non-integer) exit from the parser
        return int(exit_info.code)
