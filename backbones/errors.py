"""The errors of the backbones package, which imports nothing of `tracker` (dependencies point one way).

`BackboneError` is something a user can fix in what they asked of a backbone: an unknown name, a missing or
foreign weights file. Its message is one line naming the problem; tracker turns it into its own UserError
where it builds a model (tracker.models.siamese.build_model), so `siamtrack` prints that line and exits 2.
"""

from __future__ import annotations


class BackboneError(Exception):
    pass


def unreadable_checkpoint(path, exc: BaseException) -> str:
    """One line for a file torch.load(weights_only=True) refused. torch's own message advises loading with
    weights_only=False, which runs arbitrary code from the file: never repeated here."""
    if "Unsupported global" in str(exc):
        return (
            f"{path}: holds pickled Python objects, not only tensors (a whole saved model?); siamtrack reads "
            f"weights only: save the model's state_dict() instead"
        )
    return f"{path}: not a checkpoint (corrupt or not a torch file)"
