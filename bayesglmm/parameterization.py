"""The labels of a group term's parameterisation, as the summary shows them and a request takes them.

A group term is sampled non-centred (``u = sd * z``), centred (``u ~ Normal(0, sd)``, perhaps
around its parent's effect or the intercept: :mod:`bayesglmm.backend`), partially centred
(between the two, by a weight that moves with the SD:
:func:`bayesglmm.backend.build_partial_total`), or integrated out (:mod:`bayesglmm.marginal`).
The label says which, and around what:

- ``"non-centred"``, ``"centred"``, ``"centred (around 1|a)"``, ``"centred (around the intercept)"``,
  ``"centred (around 1|a and the intercept)"``, ``"centred (LKJ)"``, ``"non-centred (LKJ)"``;
- ``"partially centred"``, ``"partially centred (around the intercept)"``, ...;
- ``"marginalised"``.

The choice a request takes (``parameterization={"1|reg": ...}``) is the label without what
it is sampled around, which follows from the model (:func:`as_choice`).
"""

from __future__ import annotations

#: The choice value of a partially centred term, and its labels' first words.
PARTIAL = "partially centred"
#: Suffix of a partially centred term's sampled variable (:func:`bayesglmm.backend.build_partial_total`).
PARTIAL_SUFFIX = "_partial"


def centred_label(around: str | None = None, partial: bool = False) -> str:
    """The label of a term sampled centred (or partially centred) around ``around``.

    Examples
    --------
    >>> centred_label(), centred_label("1|a"), centred_label("the intercept", partial=True)
    ('centred', 'centred (around 1|a)', 'partially centred (around the intercept)')
    """
    words = PARTIAL if partial else "centred"
    return f"{words} (around {around})" if around else words


def is_centred(label: str) -> bool:
    """Whether a label is centred or partially centred (sampled by :mod:`bayesglmm.backend`, not Bambi).

    Examples
    --------
    >>> is_centred("centred (LKJ)"), is_centred("partially centred"), is_centred("non-centred")
    (True, True, False)
    """
    return label.startswith(("centred", PARTIAL))


def as_choice(label: str) -> str:
    """The choice value that rebuilds a label's parameterisation (what it is around follows from the model).

    Examples
    --------
    >>> as_choice("centred (around 1|a)"), as_choice("partially centred (around the intercept)")
    ('centred', 'partially centred')
    >>> as_choice("non-centred (LKJ)"), as_choice("marginalised")
    ('non-centred', 'marginalised')
    """
    return label.split(" (")[0]


def centred_around(label: str) -> str | None:
    """The group term a (partially) centred term is sampled around, from its label; None if none (or only the intercept).

    Examples
    --------
    >>> centred_around("centred (around 1|dept and the intercept)"), centred_around("centred (around 1|a)")
    ('1|dept', '1|a')
    >>> centred_around("partially centred (around 1|a)")
    '1|a'
    >>> centred_around("centred (around the intercept)") is None, centred_around("non-centred") is None
    (True, True)
    """
    if not is_centred(label) or " (around " not in label:
        return None
    around = label.split(" (around ", 1)[1][:-1]
    return None if around == "the intercept" else around.removesuffix(" and the intercept")
