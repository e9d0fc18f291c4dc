"""FlowRL, the algorithm and the fused training program (docs/design.md s3-s4).

Reading order, each module one concern:
- config.py: `Config`, every hyperparameter with its meaning; presets.py: the presets as scale
  rules (the numbers follow from the env count).
- flow.py: the flow-matching time convention, interpolation and ODE integrators.
- networks.py: the velocity field (the actor), the twin Q critics and V.
- policy.py: actions by integrating the velocity field from noise.
- replay.py: the on-device ring buffer and its sampling.
- losses.py: the critic, Q_buffer, expectile V and the W2-regularised actor loss (paper eqs.).
- agent.py: the learner's state and its init; update.py: K updates in the official order;
  learner.py: all of the above built once per run as one bundle (`Learner`).
- train.py: one fused iteration (act, env step, insert, K updates) scanned into one jitted call;
  evaluation.py: full-episode returns; metrics.py: what each metric means and how it reduces.
- seeds.py and sharding.py: the same program over stacked seeds or split over devices.
"""
