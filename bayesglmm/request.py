"""The user's request for a model, recorded once: what :func:`bayesglmm.build_model` was asked.

Everything that rebuilds a model reads this one record instead of its own copy of the
arguments: the retry ladder (another parameterisation), :func:`bayesglmm.refit` (other
data, priors held), the batch recipe sent to workers (:class:`bayesglmm.batch.ModelRecipe`)
and saved fits. Before it existed the copies disagreed: the batch recipe dropped
``fixed_design`` and ``dropna``, ``refit`` dropped ``fixed_design``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ModelRequest:
    """Formula, family, link, priors, data handling and design choices, as the user gave them.

    Attributes
    ----------
    formula : str
        The formula as written.
    family : str
        The family's name.
    link : str or None
        The link asked for (None: the family's default).
    priors : dict
        The priors the user set (term -> ``bg.Prior``; ``"g_corr"`` -> LKJ eta); data-scaled
        defaults are not recorded, they are recomputed on the data a model is built on.
    dropna : bool
        Drop rows with missing values in the model's columns.
    parameterization : str or dict
        Of the group effects: ``"auto"`` or the user's choice per term
        (:mod:`bayesglmm.parameterization`).
    fixed_design : str
        ``"auto"``, ``"qr"`` or ``"plain"``.
    weights : str or None
        Column of observation (frequency) weights; None for none.
    dpars : dict
        Family parameter -> its own formula's right side (``{"sigma": "x"}``,
        :mod:`bayesglmm.dpars`); empty when every family parameter is one constant.

    Examples
    --------
    >>> r = ModelRequest("y ~ x + (1|g)", "gaussian")
    >>> r.replace(parameterization="centred").parameterization
    'centred'
    """

    formula: str
    family: str = "gaussian"
    link: str | None = None
    priors: dict = field(default_factory=dict)
    dropna: bool = False
    parameterization: str | dict = "auto"
    fixed_design: str = "auto"
    weights: str | None = None
    dpars: dict = field(default_factory=dict)

    def replace(self, **changes) -> ModelRequest:
        """A copy with ``changes`` (field name -> value).

        Examples
        --------
        >>> ModelRequest("y ~ x").replace(family="poisson").family
        'poisson'
        """
        return dataclasses.replace(self, **changes)

    def build(self, data):
        """Build the model on ``data`` (:func:`bayesglmm.build_model`); sample nothing.

        Examples
        --------
        >>> spec = ModelRequest("y ~ x").build(df)  # doctest: +SKIP
        """
        from bayesglmm.model import build_model

        return build_model(self.formula, data, self.family, link=self.link, priors=(dict(self.priors) if isinstance(self.priors, dict) else self.priors) or None,
                           dropna=self.dropna, parameterization=self.parameterization,
                           fixed_design=self.fixed_design, weights=self.weights,
                           dpars=dict(self.dpars) or None)

    def key(self) -> str:
        """A stable text of every field (for hashing a batch recipe).

        Examples
        --------
        >>> ModelRequest("y ~ 1").key() == ModelRequest("y ~ 1").key()
        True
        """
        fields = dataclasses.asdict(self)
        fields["priors"] = sorted(self.priors.items(), key=str)
        fields["dpars"] = sorted(self.dpars.items())
        if isinstance(self.parameterization, dict):
            fields["parameterization"] = sorted(self.parameterization.items())
        return repr(sorted(fields.items(), key=str))


__all__ = ["ModelRequest"]
