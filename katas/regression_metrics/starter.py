# Your attempt at the `regression_metrics` kata: fill in every TODO, then run
#     nox -s kata -- regression_metrics
# Generated from solutions/regression_metrics.py; `dojo reset regression_metrics` archives this file and starts over.
"""Regression metrics from scratch (numpy only): MAE, RMSE, R^2 and adjusted R^2.

Build four functions, each returning a Python float:

    mae(y, yhat)               mean(|y - yhat|)
    rmse(y, yhat)              sqrt(mean((y - yhat)^2))
    r2(y, yhat)                1 - SS_res / SS_tot
    adjusted_r2(y, yhat, p)    1 - (1 - r2) (n - 1) / (n - p - 1)

y holds the true targets and yhat the predictions, in that order: r2 is not symmetric.

Conventions
-----------
- Inputs are 1-D only: y and yhat are array-likes of shape (n,), n >= 1 (n >= 2 for R^2),
  converted to float64. Anything else raises ValueError: a 2-D input (even an (n, 1) column)
  or lengths that differ. Checking this matters: y (n,) minus yhat (n, 1) broadcasts to an
  (n, n) matrix, and a length-1 yhat broadcasts against any y, both silently.
- SS_res = sum((y - yhat)^2), SS_tot = sum((y - mean(y))^2): the spread around the MEAN of
  the true targets, so predicting mean(y) everywhere scores 0 and a worse model scores < 0.
- Constant y (SS_tot == 0): R^2 is undefined; like sklearn's r2_score (force_finite=True),
  return 1.0 when the prediction is perfect (SS_res == 0) and 0.0 otherwise.
- Adjusted R^2 with p predictors (not counting the intercept): n - p - 1 <= 0 leaves no
  residual degrees of freedom and raises ValueError. p = 0 gives r2 back.

Pitfalls an interviewer looks for
---------------------------------
- RMSE is the square root of the MEAN of squares: not of the sum, and not the mean of |e|.
- SS_tot is centred on mean(y), not on 0; and r2(y, yhat) != r2(yhat, y).
- Adjusted R^2 divides by n - p - 1 (the intercept is a parameter too), not n - p.
"""

import numpy as np


def _as_vectors(y, yhat):
    """Both inputs as (n,) float64 arrays; ValueError unless both are 1-D of equal length."""
    # TODO: convert to float64, then reject anything that is not two 1-D arrays of one length
    raise NotImplementedError('TODO: convert to float64, then reject anything that is not two 1-D arrays of one length')


def mae(y, yhat):
    """Mean absolute error of (n,) targets y and predictions yhat, a Python float."""
    # TODO: the mean of the absolute errors
    raise NotImplementedError('TODO: the mean of the absolute errors')


def rmse(y, yhat):
    """Root mean squared error of (n,) targets y and predictions yhat, a Python float."""
    # TODO: the square root of the mean squared error
    raise NotImplementedError('TODO: the square root of the mean squared error')


def r2(y, yhat):
    """Coefficient of determination 1 - SS_res / SS_tot of predictions yhat for targets y.

    y, yhat: (n,), n >= 2. Constant y: 1.0 for a perfect prediction, else 0.0 (sklearn's
    force_finite convention). Returns a Python float.
    """
    # TODO: residual and total sums of squares (total around the mean of y);
    #       handle a constant y before dividing
    raise NotImplementedError('TODO: residual and total sums of squares (total around the mean of y);')


def adjusted_r2(y, yhat, p):
    """Adjusted R^2 = 1 - (1 - r2) (n - 1) / (n - p - 1) for a model with p predictors.

    y, yhat: (n,); p: int >= 0, the number of predictors excluding the intercept.
    Raises ValueError when n - p - 1 <= 0. Returns a Python float.
    """
    # TODO: n from the data, reject n - p - 1 <= 0, then rescale 1 - r2
    raise NotImplementedError('TODO: n from the data, reject n - p - 1 <= 0, then rescale 1 - r2')
