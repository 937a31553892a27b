"""Errors a user can cause and fix. The CLI prints them as one line and exits non-zero."""


class ToymodelsError(Exception):
    """Base for every error caused by input (flags, config values, run directories)."""


class ConfigError(ToymodelsError):
    """An impossible or unknown configuration value."""


class RunDirError(ToymodelsError):
    """A run directory that is corrupt or belongs to a different configuration."""


class OtherProcessError(ToymodelsError):
    """Process 0 of a multi-process run stopped; the others stop with this (its own output says why)."""
