"""Quick start: the multicentre trial (course Exercise 1) as a Bayesian GLMM.

The course fits ``glmer(obs ~ 1 + treat + (1|centre), family="binomial", weights=n)``;
here the same model is written with the binomial counts, ``p(y, n)``, sampled by NUTS,
and summarised with 95% credible intervals instead of standard errors.

Run: ``bash dev.sh run`` (data from BAYESGLMM_DATA or ../shared/datasets).
"""

import bayesglmm as bg

mc = bg.datasets.load("multicentre")  # the course's data, prepared as the course prepares it
fit = bg.fit("p(y, n) ~ treat + (1|centre)", mc, family="binomial", seed=1)
print(fit.summary())
print()
print("Odds ratio of the drug vs control (95% credible interval):")
print(fit.ratios().round(3).to_string())
