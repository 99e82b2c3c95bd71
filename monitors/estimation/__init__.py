"""Performance estimated without labels: CBPE for classifiers, DLE for regressors.

At log time (reference data with labels), the ``estimation`` monitor stores an estimator
card under ``clarity/monitoring/estimation/``: per-class isotonic calibration maps as
JSON and the reference performance (classifiers), or the loss models of Direct Loss
Estimation as LightGBM text (regressors). A check without labels then estimates the
model's metrics with confidence intervals and a reliability flag (``drift.json``'s
``estimated`` section, MLflow metrics ``estimated.<metric>``).
"""
