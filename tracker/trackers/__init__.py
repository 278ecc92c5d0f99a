"""The tracking algorithms: the `Tracker` interface (`base`), the Siamese families' per-frame logic (`siamfc`,
`siamrpn`, `anchor_free`, chosen by `kinds.siamese_tracker`) and OpenCV's trackers as baselines (`opencv`).

A tracker here gets its network as an engine (tracker.engines) and its values as a preset (tracker.config);
it builds nothing itself (tracker.build does) and knows no command line (tracker.cli)."""
