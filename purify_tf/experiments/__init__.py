"""The paper's experiments as library functions (Table 2, Table 3, Fig. 8, Fig. 10, pupil centres).

One module per experiment; each takes models and arrays and returns plain dicts of numbers, so
that ``trainers.report`` can run them end to end and :mod:`purify_tf.experiments.report` can
write them next to the paper's figures.
"""
