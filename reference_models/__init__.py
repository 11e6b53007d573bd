"""The networks of the pix2pix paper: generator and discriminator registries, checkpoints."""

from p2pbench.registry import Registry, UnknownNameError
from reference_models.checkpoint import (
    CheckpointError,
    LoadedGenerator,
    load_generator,
    read_checkpoint,
    read_generator,
    save_checkpoint,
    save_generator,
)
from reference_models.discriminators import (
    DISCRIMINATORS,
    DiscriminatorConfig,
    build_discriminator,
    receptive_field,
)
from reference_models.generators import (
    GENERATORS,
    GeneratorConfig,
    build_generator,
    generator_size,
)
from reference_models.inference import TEST_TIME_MODES, generation_mode, sample_seed, translate

__all__ = [
    "DISCRIMINATORS",
    "GENERATORS",
    "TEST_TIME_MODES",
    "CheckpointError",
    "DiscriminatorConfig",
    "GeneratorConfig",
    "LoadedGenerator",
    "Registry",
    "UnknownNameError",
    "build_discriminator",
    "build_generator",
    "generator_size",
    "load_generator",
    "read_checkpoint",
    "read_generator",
    "receptive_field",
    "sample_seed",
    "save_checkpoint",
    "save_generator",
    "generation_mode",
    "translate",
]
