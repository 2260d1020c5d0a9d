"""One source of configuration: `params.yaml` loaded into typed, frozen dataclasses.

Every key of `params.yaml` maps to a field below; an unknown or missing key, or a value of the
wrong type, raises `ConfigError` naming the file and the key. DVC reads the same file (`params:`
in `dvc.yaml`) to decide which stages to rerun, and papermill passes the file's path to each
notebook (`-p params_file params.yaml`), which calls `load_config`.

Each issue/stage owns one section; a section's dataclass documents its fields.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from pathlib import Path

import yaml


class ConfigError(ValueError):
    """A params file that does not match the schema below."""


@dataclass(frozen=True)
class RcmConfig:
    """Section `rcm`: the RCM lesson and stage (paper section 3.2)."""

    object: str  # an asset name from `byteloom.assets.ASSETS` or a path to a mesh file
    size: tuple[int, int]  # (height, width) of every rendered view, pixels
    fov_deg: float  # vertical field of view of the cache and demo cameras
    cache_views: int  # views in the RCM-cache (the paper's figures show nine)
    cache_layout: str  # view layout of the cache, see `byteloom.rcm.VIEW_LAYOUTS`
    coverage_views: tuple[int, ...]  # view counts for the coverage-vs-views curve
    coverage_layouts: tuple[str, ...]  # layouts compared on that curve
    coverage_objects: tuple[str, ...]  # objects the curve is measured on
    trajectory_frames: int  # frames of the demo 6-DoF trajectory video


@dataclass(frozen=True)
class ModelConfig:
    """Section `model`: the conditioned Wan2.1 DiT (paper section 3.1), see byteloom/model.py."""

    checkpoint: str | None  # local diffusers-format Wan2.1 folder (transformer/, vae/); None = tiny random model
    codec: str  # "patch" (exact, no training; CPU profile) or "wan_vae" (the checkpoint's VAE)
    codec_patch: int  # spatial factor of the patch codec
    patch: tuple[int, int, int]  # tiny backbone: (t, h, w) patch of the DiT over latents (Wan2.1: 1, 2, 2)
    heads: int  # tiny backbone: attention heads
    head_dim: int  # tiny backbone: channels per head (width = heads * head_dim)
    layers: int  # tiny backbone: transformer blocks
    ffn_dim: int  # tiny backbone: feed-forward width
    text_dim: int  # tiny backbone: prompt embedding width (1.3B: 4096)
    text_len: int  # tokens of the learned null prompt
    fusion_hidden: int  # hidden width of the MLP latent fusion
    lora_rank: int
    lora_alpha: float
    lora_targets: tuple[str, ...]  # module name suffixes, e.g. attn1.to_q, attn2.to_v, ffn.net.0.proj


@dataclass(frozen=True)
class TrainConfig:
    """Training hyper-parameters of one run (byteloom/train.py)."""

    steps: int
    batch_size: int = 2
    lr: float = 1e-3
    weight_decay: float = 0.0
    grad_accum: int = 1
    max_grad_norm: float = 1.0
    shift: float = 3.0  # timestep shift s (Wan uses 3-5 at 480p; smaller for tiny latents)
    ref_dropout: float = 0.1  # drop the reference to allow classifier-free guidance on it
    checkpoint_every: int = 50
    gradient_checkpointing: bool = False
    offload_activations: bool = False  # checkpointing with each block's saved input kept on the CPU (implies it)
    mixed_precision: str = "auto"  # "auto": bf16 on GPU, fp32 on CPU (bf16 is ~26x slower on AVX2 CPUs)
    seed: int = 0


@dataclass(frozen=True)
class SamplerConfig:
    """Section `sampler`: byteloom/sample.py."""

    scheduler: str  # euler | unipc
    steps: int
    shift: float
    guidance: float  # classifier-free guidance on the human reference (1.0 = off)
    window: int  # latent frames per segment of multi-segment inference
    overlap: int  # latent frames shared by consecutive segments


@dataclass(frozen=True)
class ModelLessonConfig:
    """Section `model_lesson`: notebooks/03_model.ipynb trains a tiny model on object-multiview clips."""

    object: str  # asset name or mesh path
    size: tuple[int, int]  # (height, width) of the clips; must be divisible by model.codec_patch * 2
    frames: int
    cache_views: int
    clips: int  # generated clips; the last 4 are held out for sampling
    steps: int  # full training steps (the tiny backbone has no pretrained weights to adapt)
    lr: float
    batch_size: int


@dataclass(frozen=True)
class DataConfig:
    """Section `data`: the generated Mani4D-mini splits (byteloom/mani4d.py, docs/clip_format.md)."""

    root: str  # output folder; one sub-folder per split, one per clip
    size: tuple[int, int]  # (height, width)
    frames: int
    fps: float
    cache_views: int
    object_extent: float  # longest side of every object, metres
    clips: dict[str, int]  # clips per split: stage1, stage2, stage3, test (Stage I largest, III smallest)
    train_objects: tuple[str, ...]
    test_objects: tuple[str, ...]  # novel objects, only in the test split
    train_identities: int  # identities 0 .. n-1
    test_identities: int  # novel identities 1000 .. 1000 + n - 1, only in the test split
    motions: tuple[str, ...]  # DeepMimic clips (byteloom.motion.list_motions())


@dataclass(frozen=True)
class VariantConfig:
    """One trained design of the curriculum/baseline tables (section `curriculum.variants`)."""

    label: str  # row name in the tables
    design: str  # conditioning design, one of byteloom.model.VARIANTS
    stages: tuple[str, ...]  # curriculum stages in order, each one of stage1, stage2, stage3


@dataclass(frozen=True)
class CurriculumConfig:
    """Section `curriculum`: notebooks/04_train.ipynb, the progressive curriculum (paper section 3.3)."""

    size: tuple[int, int]  # (height, width) the clips are trained and sampled at
    seeds: tuple[int, ...]  # every variant is trained once per seed (tables show mean ± spread)
    base_steps: int  # full training of the tiny backbone: the stand-in for Wan2.1's pretraining (0 with a checkpoint)
    base_lr: float
    steps: dict[str, int]  # LoRA steps per stage: stage1, stage2, stage3 (Stage I longest, as in the paper)
    lr: float
    batch_size: int
    grad_accum: int
    shift: float  # timestep shift of the flow-matching loss
    ref_dropout: float  # probability of dropping the reference (classifier-free guidance)
    checkpoint_every: int
    gradient_checkpointing: bool
    offload_activations: bool  # checkpointing with each block's input parked on the CPU (implies checkpointing)
    processes: int  # 1: train in the notebook's process; N > 1: `accelerate launch` on N processes (GPUs)
    variants: dict[str, VariantConfig]


@dataclass(frozen=True)
class EvaluationConfig:
    """Section `evaluation`: sampling the benchmark split and scoring it (byteloom/evaluate.py)."""

    clips: int  # benchmark clips sampled per variant and seed (at most the test split's size)
    cache_sizes: tuple[int, ...]  # RCM-cache views kept at inference for the cache-size ablation of `byteloom`


@dataclass(frozen=True)
class ValidationConfig:
    """Section `validation`: notebooks/05_metrics.ipynb, metrics against controlled corruptions."""

    clips: int  # benchmark clips corrupted
    strengths: tuple[float, ...]  # corruption strengths in [0, 1], 0 first


@dataclass(frozen=True)
class Config:
    """The whole `params.yaml`."""

    seed: int
    rcm: RcmConfig
    model: ModelConfig
    sampler: SamplerConfig
    model_lesson: ModelLessonConfig
    data: DataConfig
    curriculum: CurriculumConfig
    evaluation: EvaluationConfig
    validation: ValidationConfig


def _convert(tp, value, where: str):
    """Check/convert one YAML value against a type annotation; `where` names the key."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}")
        return tuple(_convert(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, where)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        kt, vt = typing.get_args(tp)
        return {_convert(kt, k, f"{where}"): _convert(vt, v, f"{where}.{k}") for k, v in value.items()}
    if tp in (int, str, bool):
        if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
            raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {tp!r} at {where}")


def _build(cls, data, where: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    missing = [n for n in names if n not in data]  # strict: params.yaml states every value
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {names}")
    if missing:
        raise ConfigError(f"{where}: missing key(s) {missing}")
    return cls(**{n: _convert(hints[n], data[n], f"{where}.{n}") for n in names})


def config_from_dict(data: dict, source: str = "<dict>") -> Config:
    """Build a `Config` from an already-parsed mapping (e.g. papermill parameters)."""
    return _build(Config, data, source)


def load_config(path: str | Path = "params.yaml") -> Config:
    """Read and validate a params file; errors name the file and the offending key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: params file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from e
    return config_from_dict(data, str(path))
