"""A training budget in optimiser updates (SpeechBrain's ``optimizer_step_limit``), resumable.

SpeechBrain's ``Brain`` ends training after ``optimizer_step_limit`` updates (a run option,
also read from the hparams): the epoch in progress stops there and is validated, then
``fit`` returns. Its update count is checkpointed with the ``Brain``, but a run resumed after
the limit was reached (killed before the test, or run again) still enters one more epoch:
zero updates, a training loss of 0 in the logs and ``history.json``, one more validation and
checkpoint of an unchanged model. :func:`end_epochs_if_budget_spent`, called once the
checkpoint is recovered (``on_fit_start``), ends the epochs where the budget ended them.

Authors
 * ser-recipes contributors 2026
"""

import logging

logger = logging.getLogger(__name__)

__all__ = ["end_epochs_if_budget_spent"]


def end_epochs_if_budget_spent(brain, epoch_counter):
    """Stops ``epoch_counter`` at its current epoch if the recovered run has made its
    ``optimizer_step_limit`` updates already.

    Arguments
    ---------
    brain : speechbrain.Brain
        After its checkpoint is recovered (``optimizer_step``, ``optimizer_step_limit``).
    epoch_counter : speechbrain.utils.epoch_loop.EpochCounter
        The counter that ``fit`` iterates.

    Returns
    -------
    bool
        Whether the budget was spent (no epoch left to run).

    Example
    -------
    >>> from types import SimpleNamespace
    >>> from speechbrain.utils.epoch_loop import EpochCounter
    >>> counter = EpochCounter(1000)
    >>> counter.current = 271  # recovered: the run stopped in epoch 271 at the limit
    >>> spent = SimpleNamespace(optimizer_step=30000, optimizer_step_limit=30000)
    >>> end_epochs_if_budget_spent(spent, counter)
    True
    >>> list(counter)
    []
    >>> counter = EpochCounter(1000)
    >>> fresh = SimpleNamespace(optimizer_step=0, optimizer_step_limit=30000)
    >>> end_epochs_if_budget_spent(fresh, counter)
    False
    """
    limit = getattr(brain, "optimizer_step_limit", None)
    if limit is None or brain.optimizer_step < limit:
        return False
    if epoch_counter.limit > epoch_counter.current:
        logger.info(
            "optimizer_step_limit=%d updates already made (epoch %d): no further epoch",
            limit,
            epoch_counter.current,
        )
        epoch_counter.limit = epoch_counter.current
    return True
