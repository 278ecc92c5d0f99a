"""Configuration as typed data: the model presets (`presets`: architecture, input convention, tracking values,
shipped weights) and pysot's config.yaml read into a preset (`pysot`)."""
