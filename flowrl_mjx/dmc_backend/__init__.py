"""`--backend dm_control`: the same learner fed by real dm_control envs stepped on the host
(host_group.py: envs in one process; host_env.py: the pool, in-process or in worker processes;
host_train.py: the jitted learner calls; host_runner.py: the loop)."""
