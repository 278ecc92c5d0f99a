"""Training: data readers and source mixing, pair sampling with spatially aware augmentation, label
assignment and losses, and the training loop (CPU / CUDA / DistributedDataParallel) behind `siamtrack train`.

Import the submodules you need (`tracker.training.trainer`, `.sources`, ...); this package import is light.
"""
