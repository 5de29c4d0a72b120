"""Build the distiller's search objective from its config keys, refusing bad ones in one line."""
from typing import Optional

from ..errors import ConfigError, check_settings
from ..registry import MODELS
from ..search_objectives import SearchObjective

__all__ = ['build_search_objective']

DEFAULT_WEAKNESS_LOSS = dict(type='tst_mm.StudentWeaknessLoss')
SEARCH_LOSS_WEIGHT_KEYS = ('teacher', 'weakness')


def build_search_objective(search_objective: Optional[dict], weakness_loss: Optional[dict],
                           search_loss_weights: Optional[dict]) -> SearchObjective:
    """The search objective a ``TSTDistiller`` config asks for.

    Without ``search_objective``, the paper's objective from the older keys
    ``weakness_loss`` and ``search_loss_weights`` (unchanged configs build what they built
    before). With it, those keys must be unset or at their defaults, so that a setting is
    never silently ignored.

    Args:
        search_objective: Config of a registered :class:`tst_mm.losses.SearchObjective`.
        weakness_loss: The distiller's ``weakness_loss`` key.
        search_loss_weights: The distiller's ``search_loss_weights`` key.

    Raises:
        ConfigError: For unknown weight keys, an unknown objective type, an objective that
            is no ``SearchObjective``, or older keys set beside ``search_objective``.
    """
    weights = dict(search_loss_weights or {})
    check_settings('model.search_loss_weights', weights, SEARCH_LOSS_WEIGHT_KEYS)
    if search_objective is None:
        search_objective = dict(type='tst_mm.PaperSearchObjective',
                                teacher_weight=weights.get('teacher', 1.0),
                                weakness_weight=weights.get('weakness', 1.0),
                                weakness_loss=weakness_loss or DEFAULT_WEAKNESS_LOSS)
    elif (any(weights.get(key, 1.0) != 1.0 for key in SEARCH_LOSS_WEIGHT_KEYS)
          or (weakness_loss or DEFAULT_WEAKNESS_LOSS) != DEFAULT_WEAKNESS_LOSS):
        raise ConfigError('model.search_objective is set, so model.weakness_loss and '
                          'model.search_loss_weights must stay at their defaults; give the '
                          'objective its own settings inside search_objective')
    try:
        objective = MODELS.build(search_objective)
    except KeyError as err:  # the registry's "not in the registry" message
        raise ConfigError(f'model.search_objective: {err.args[0] if err.args else err}'
                          ) from None
    if not isinstance(objective, SearchObjective):
        raise ConfigError(f'model.search_objective must build a tst_mm.SearchObjective (e.g. '
                          f'tst_mm.PaperSearchObjective), got {type(objective).__name__}')
    return objective
