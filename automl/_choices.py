"""The values a study's choice settings take, for ``StudyConfig``'s checks and the command
line's options alike. It imports nothing, so ``automl --help`` stays fast."""

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("asha", "median", "hyperband", "none")
OBJECTIVES = ("accuracy", "pareto")
COST_METRICS = ("params", "flops")
PREFERENCES = ("cost", "accuracy")
BACKENDS = ("tensorflow", "jax", "torch")  # the Keras backends (--backend, KERAS_BACKEND)
