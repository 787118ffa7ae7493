# Your attempt at the `mle` kata: fill in every TODO, then run
#     nox -s kata -- mle
# Generated from solutions/mle.py; `dojo reset mle` archives this file and starts over.
"""Maximum likelihood estimation from scratch: exponential, Gaussian, Poisson, Bernoulli.

Build the closed-form maximum likelihood estimates of four distributions, and the Gaussian
negative log-likelihood they minimise:

    mle_exponential(x)                      -> lam        rate of Exp(lam), density lam e^{-lam x}
    mle_gaussian(x)                         -> (mu, var)  mean and VARIANCE of N(mu, var)
    mle_poisson(x)                          -> lam        mean of Poisson(lam)
    mle_bernoulli(x)                        -> p          P(x = 1)
    neg_log_likelihood_gaussian(x, mu, var) -> float      -sum_i log N(x_i | mu, var)

Inputs: `x` is a 1-D array-like of n >= 1 samples (floats, ints or bools); every estimate is
returned as a Python float (a tuple of two floats for the Gaussian).

Conventions
-----------
- The exponential is parametrised by its RATE: mean 1/lam, so the MLE is lam = 1 / mean(x)
  (scipy's `expon` uses scale = 1/lam).
- The Gaussian MLE of the variance divides by n, not n - 1: var = mean((x - mu)^2). It is
  biased, and that is what maximum likelihood gives. One sample gives var = 0.0.
- The negative log-likelihood is SUMMED over the samples (not averaged) and keeps every
  constant:
      NLL(mu, var) = sum_i [ 0.5 * log(2 * pi * var) + (x_i - mu)^2 / (2 * var) ]
                   = n/2 * log(2 * pi * var) + sum_i (x_i - mu)^2 / (2 * var)
  `var` is the variance sigma^2, not the standard deviation.
- Validation (raise ValueError):
      every function       x is empty
      mle_exponential      a value is negative, or every value is 0 (the likelihood grows
                           without bound as lam -> inf: no MLE)
      mle_poisson          a value is negative or not a whole number (counts: 0, 1, 2, ...)
      mle_bernoulli        a value is not 0 or 1
      neg_log_likelihood   var <= 0
  All zeros is a valid Poisson sample (lam = 0.0), and all zeros or all ones a valid
  Bernoulli sample (p = 0.0 or 1.0).

Pitfalls an interviewer looks for
---------------------------------
- Returning the mean as the exponential rate: the mean is 1/lam.
- Dividing the Gaussian variance by n - 1 (`ddof=1`): that is the unbiased estimate, not the
  MLE. Returning the standard deviation where the variance is asked for.
- An NLL without the 0.5 * log(2 * pi * var) term, or without its 1/2, or with sigma where
  sigma^2 belongs; the minimiser may not move, but the value is wrong (and model comparison
  with it is wrong).
"""

from __future__ import annotations

import numpy as np


def mle_exponential(x):
    """MLE of the rate lam of Exp(lam) (density lam * exp(-lam * x), x >= 0). x: (n,). -> float.

    Raises ValueError if x is empty, has a negative value, or is all zeros.
    """
    # TODO: validate, then maximise sum(log lam - lam * x_i) in closed form
    raise NotImplementedError('TODO: validate, then maximise sum(log lam - lam * x_i) in closed form')


def mle_gaussian(x):
    """MLE (mu, var) of N(mu, var) from x: (n,). var divides by n. -> (float, float).

    Raises ValueError if x is empty.
    """
    # TODO: validate, then the mean and the maximum-likelihood variance
    raise NotImplementedError('TODO: validate, then the mean and the maximum-likelihood variance')


def mle_poisson(x):
    """MLE of the mean lam of Poisson(lam) from counts x: (n,). -> float.

    Raises ValueError if x is empty or has a negative or non-integer value.
    """
    # TODO: validate the counts, then maximise sum(x_i log lam - lam) in closed form
    raise NotImplementedError('TODO: validate the counts, then maximise sum(x_i log lam - lam) in closed form')


def mle_bernoulli(x):
    """MLE of p = P(x = 1) of Bernoulli(p) from x: (n,) of 0s and 1s. -> float.

    Raises ValueError if x is empty or has a value other than 0 or 1.
    """
    # TODO: validate the 0/1 values, then the fraction of ones
    raise NotImplementedError('TODO: validate the 0/1 values, then the fraction of ones')


def neg_log_likelihood_gaussian(x, mu, var):
    """-sum_i log N(x_i | mu, var) for x: (n,), mu a float, var > 0 the variance. -> float.

    Summed over the samples, with the 0.5 * log(2 * pi * var) term. Raises ValueError if
    var <= 0.
    """
    # TODO: check var, then sum the per-sample negative log-densities
    raise NotImplementedError('TODO: check var, then sum the per-sample negative log-densities')
