"""One source of configuration: `params.yaml` loaded into typed, frozen dataclasses.

Every key of `params.yaml` maps to a field below; an unknown or missing key, or a value of the
wrong type, raises `ConfigError` naming the file and the key. DVC reads the same file (`params:`
in `dvc.yaml`) to decide which stages to rerun, and papermill passes the file's path to each
notebook (`-p params_file params.yaml`), which calls `load_config`.

Each issue/stage owns one section; a section's dataclass documents its fields.
"""
from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path

import yaml


class ConfigError(ValueError):
    """A params file that does not match the schema below."""


# Closed sets of names, defined once here (the modules that use them import them from here).
STAGES = ("stage1", "stage2", "objmv", "stage3")  # curriculum stages in order, paper section 3.3 (objmv: the
                                                   # optional Object-Multiview stage, main table rows with "Obj")
DESIGNS = ("rcm_cache", "rcm_only", "single_view", "pose_only")  # conditioning designs (byteloom.model)
SCHEDULERS = ("euler", "unipc")  # byteloom.sample.make_scheduler
CODECS = ("patch", "wan_vae")  # byteloom.model.build_model
DATA_SPLITS = (*STAGES, "test")
BASE_SPLITS = ("stage1", "stage2", "stage3")  # what the base is pretrained on (its own corpus of these kinds)
LR_SCHEDULES = ("constant", "cosine", "linear", "cosine_with_restarts", "polynomial")  # diffusers.optimization
RESERVED_ROWS = ("ground_truth", "reference_repeated", "other_clip")  # rows byteloom.score adds to the variants


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
    lr_schedule: str = "constant"  # a diffusers.optimization schedule: constant | cosine | linear ...
    warmup_steps: int = 0  # linear learning-rate warm-up (with every schedule)
    ema_decay: float = 0.0  # > 0: keep an EMA of the trained weights (diffusers EMAModel) and end on it
    sigma_sampling: str = "uniform"  # how u in [0, 1] is drawn before Wan's shift: uniform | logit_normal
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
    clips: dict[str, int]  # clips per split: stage1, stage2, objmv, stage3, test (Stage I largest, III smallest)
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
    stages: tuple[str, ...]  # curriculum stages in order, each one of stage1, stage2, objmv, stage3


@dataclass(frozen=True)
class BaseConfig:
    """Section `base`: the tiny model's pretraining, the stand-in for Wan2.1's (dvc.yaml stage
    `pretrain`, frozen: its output is committed and loaded like a downloaded checkpoint)."""

    steps: int  # full training steps of the tiny backbone (0 with a Wan2.1 checkpoint: nothing to pretrain)
    lr: float
    lr_schedule: str  # a diffusers.optimization schedule: constant | cosine | linear ...
    warmup: int  # warm-up steps
    ema: float  # EMA decay of the weights the base is saved with (0: the last step's weights)
    batch_size: int
    shift: float  # timestep shift of its flow-matching loss
    clips: dict[str, int]  # its own corpus, generated with seed + 1: clips per split stage1, stage2, stage3


@dataclass(frozen=True)
class CurriculumConfig:
    """Section `curriculum`: notebooks/04_train.ipynb, the progressive curriculum (paper section 3.3)."""

    size: tuple[int, int]  # (height, width) the clips are trained and sampled at
    seeds: tuple[int, ...]  # every variant is trained once per seed (tables show mean ± spread)
    steps: dict[str, int]  # LoRA steps per stage: stage1, stage2, objmv, stage3 (Stage I longest, as in the paper)
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
    base: BaseConfig
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
    """Build a `Config` from an already-parsed mapping (e.g. papermill parameters), then check every
    value (`validate`): a bad parameter fails here, before any work, naming its key."""
    cfg = _build(Config, data, source)
    validate(cfg, source)
    return cfg


# ---------------------------------------------------------------------------------- value checks


def _fail(source: str, key: str, problem: str):
    raise ConfigError(f"{source}.{key}: {problem}")


def _at_least(source: str, key: str, value, low, strict: bool = False) -> None:
    if value < low or (strict and value == low):
        _fail(source, key, f"must be {'>' if strict else '>='} {low}, got {value!r}")


def _one_of(source: str, key: str, value, allowed) -> None:
    if value not in allowed:
        _fail(source, key, f"{value!r} is not one of {list(allowed)}")


def _object_name(source: str, key: str, value: str) -> None:
    """An asset name of `byteloom.assets.ASSETS` or the path of an existing mesh file."""
    from .assets import ASSETS

    if value not in ASSETS and not Path(value).is_file():
        _fail(source, key, f"{value!r} is neither a built-in object {list(ASSETS)} nor an existing mesh file")


def token_pixels(cfg: "Config") -> tuple[int, int]:
    """Pixels (h, w) one DiT token covers: codec factor x DiT patch (paper section 3.1). With a
    Wan2.1 checkpoint the codec is its VAE (8x) and the patch comes from its transformer config."""
    m = cfg.model
    if m.codec == "wan_vae":
        patch = (1, 2, 2)
        conf = Path(m.checkpoint or "") / "transformer" / "config.json"
        if m.checkpoint and conf.is_file():
            import json

            patch = tuple(json.loads(conf.read_text()).get("patch_size", patch))
        return 8 * patch[1], 8 * patch[2]
    return m.codec_patch * m.patch[1], m.codec_patch * m.patch[2]


def validate(cfg: "Config", source: str = "<dict>") -> None:
    """Check every value of a typed config: ranges, closed sets of names, sizes the codec and DiT
    can tile, and the curriculum's variants (each a valid plan). Raises `ConfigError` naming the
    key, the value and what is allowed."""
    from .motion import list_motions
    from .rcm import VIEW_LAYOUTS

    r, m, s, ml, d, cu, ev, va = (cfg.rcm, cfg.model, cfg.sampler, cfg.model_lesson, cfg.data, cfg.curriculum,
                                  cfg.evaluation, cfg.validation)
    # rcm
    _object_name(source, "rcm.object", r.object)
    for i, v in enumerate(r.size):
        _at_least(source, f"rcm.size[{i}]", v, 1)
    if not 0 < r.fov_deg < 180:
        _fail(source, "rcm.fov_deg", f"must be in (0, 180) degrees, got {r.fov_deg}")
    _at_least(source, "rcm.cache_views", r.cache_views, 1)
    _one_of(source, "rcm.cache_layout", r.cache_layout, VIEW_LAYOUTS)
    for i, v in enumerate(r.coverage_views):
        _at_least(source, f"rcm.coverage_views[{i}]", v, 1)
    for i, v in enumerate(r.coverage_layouts):
        _one_of(source, f"rcm.coverage_layouts[{i}]", v, VIEW_LAYOUTS)
    for i, v in enumerate(r.coverage_objects):
        _object_name(source, f"rcm.coverage_objects[{i}]", v)
    _at_least(source, "rcm.trajectory_frames", r.trajectory_frames, 1)
    # model
    _one_of(source, "model.codec", m.codec, CODECS)
    if m.checkpoint is not None and not Path(m.checkpoint).is_dir():
        _fail(source, "model.checkpoint", f"{m.checkpoint!r} is not a folder (a local diffusers-format Wan2.1 "
                                          "checkpoint with transformer/ and vae/; null for the tiny model)")
    if m.codec == "wan_vae" and m.checkpoint is None:
        _fail(source, "model.codec", "'wan_vae' needs model.checkpoint (the VAE comes with the Wan2.1 checkpoint)")
    for key in ("codec_patch", "heads", "head_dim", "layers", "ffn_dim", "text_dim", "text_len", "fusion_hidden",
                "lora_rank"):
        _at_least(source, f"model.{key}", getattr(m, key), 1)
    for i, v in enumerate(m.patch):
        _at_least(source, f"model.patch[{i}]", v, 1)
    _at_least(source, "model.lora_alpha", m.lora_alpha, 0, strict=True)
    if not m.lora_targets:
        _fail(source, "model.lora_targets", "must name at least one module (e.g. attn1.to_q)")
    # sampler
    _one_of(source, "sampler.scheduler", s.scheduler, SCHEDULERS)
    _at_least(source, "sampler.steps", s.steps, 1)
    _at_least(source, "sampler.shift", s.shift, 0, strict=True)
    _at_least(source, "sampler.guidance", s.guidance, 0, strict=True)
    _at_least(source, "sampler.window", s.window, 1)
    if not 0 <= s.overlap < s.window:
        _fail(source, "sampler.overlap", f"must satisfy 0 <= overlap < window ({s.window}), got {s.overlap}")
    # sizes the codec and the DiT tile exactly, and frame counts the codec can compress
    th, tw = token_pixels(cfg)
    for key, (h, w) in (("curriculum.size", cu.size), ("model_lesson.size", ml.size)):
        if h < 1 or w < 1 or h % th or w % tw:
            _fail(source, key, f"{[h, w]} must be positive multiples of {th}x{tw} px (codec factor x DiT patch)")
    if m.codec == "wan_vae":
        for key, t in (("data.frames", d.frames), ("model_lesson.frames", ml.frames)):
            if (t - 1) % 4:
                _fail(source, key, f"{t} frames: the Wan VAE needs 4k + 1 frames (e.g. 9, 17, 33, 81)")
    # model lesson
    _object_name(source, "model_lesson.object", ml.object)
    for key in ("frames", "cache_views", "batch_size"):
        _at_least(source, f"model_lesson.{key}", getattr(ml, key), 1)
    _at_least(source, "model_lesson.clips", ml.clips, 5)  # the last 4 are held out for sampling
    _at_least(source, "model_lesson.steps", ml.steps, 0)
    _at_least(source, "model_lesson.lr", ml.lr, 0, strict=True)
    # data
    for i, v in enumerate(d.size):
        _at_least(source, f"data.size[{i}]", v, 1)
    for key in ("frames", "cache_views", "train_identities", "test_identities"):
        _at_least(source, f"data.{key}", getattr(d, key), 1)
    _at_least(source, "data.fps", d.fps, 0, strict=True)
    _at_least(source, "data.object_extent", d.object_extent, 0, strict=True)
    if set(d.clips) != set(DATA_SPLITS):
        _fail(source, "data.clips", f"must give clips for exactly {list(DATA_SPLITS)}, got {list(d.clips)}")
    for k, v in d.clips.items():
        _at_least(source, f"data.clips.{k}", v, 1)
    for key in ("train_objects", "test_objects"):
        if not getattr(d, key):
            _fail(source, f"data.{key}", "must name at least one object")
        for i, v in enumerate(getattr(d, key)):
            _object_name(source, f"data.{key}[{i}]", v)
    motions = list_motions()
    if not d.motions:
        _fail(source, "data.motions", f"must name at least one motion of {motions}")
    for i, v in enumerate(d.motions):
        _one_of(source, f"data.motions[{i}]", v, motions)
    # curriculum
    if cu.size[0] > d.size[0] or cu.size[1] > d.size[1]:
        _fail(source, "curriculum.size", f"{list(cu.size)} exceeds data.size {list(d.size)} (clips are downscaled)")
    if not cu.seeds:
        _fail(source, "curriculum.seeds", "must list at least one seed")
    if len(set(cu.seeds)) != len(cu.seeds):
        _fail(source, "curriculum.seeds", f"{list(cu.seeds)} repeats a seed (each seed is one training run)")
    b = cfg.base
    _at_least(source, "base.steps", b.steps, 0)
    _at_least(source, "base.warmup", b.warmup, 0)
    _at_least(source, "base.batch_size", b.batch_size, 1)
    for key in ("lr", "shift"):
        _at_least(source, f"base.{key}", getattr(b, key), 0, strict=True)
    if not 0 <= b.ema < 1:
        _fail(source, "base.ema", f"must satisfy 0 <= ema < 1 (0: no EMA), got {b.ema}")
    _one_of(source, "base.lr_schedule", b.lr_schedule, LR_SCHEDULES)
    if set(b.clips) != set(BASE_SPLITS):
        _fail(source, "base.clips", f"must give clips for exactly {list(BASE_SPLITS)}, got {list(b.clips)}")
    for k, v in b.clips.items():
        _at_least(source, f"base.clips.{k}", v, 1)
    if set(cu.steps) != set(STAGES):
        _fail(source, "curriculum.steps", f"must give steps for exactly {list(STAGES)}, got {list(cu.steps)}")
    for k, v in cu.steps.items():
        _at_least(source, f"curriculum.steps.{k}", v, 0)
    for key in ("lr", "shift"):
        _at_least(source, f"curriculum.{key}", getattr(cu, key), 0, strict=True)
    for key in ("batch_size", "grad_accum", "checkpoint_every", "processes"):
        _at_least(source, f"curriculum.{key}", getattr(cu, key), 1)
    if not 0 <= cu.ref_dropout < 1:
        _fail(source, "curriculum.ref_dropout", f"must satisfy 0 <= ref_dropout < 1, got {cu.ref_dropout}")
    if not cu.variants:
        _fail(source, "curriculum.variants", "must define at least one variant")
    for key, v in cu.variants.items():
        _one_of(source, f"curriculum.variants.{key}.design", v.design, DESIGNS)
        if not re.fullmatch(r"[A-Za-z0-9_]+", key) or key in RESERVED_ROWS or re.fullmatch(r"byteloom_cache\d+", key):
            _fail(source, f"curriculum.variants.{key}", "a variant name must be letters, digits and _, and not one of "
                                                        f"the evaluation's own rows {list(RESERVED_ROWS)} or byteloom_cache<k>")
        if not v.stages or any(x not in STAGES for x in v.stages) or list(v.stages) != sorted(set(v.stages), key=STAGES.index):
            _fail(source, f"curriculum.variants.{key}.stages", f"{list(v.stages)} must be stages of {list(STAGES)}, "
                                                                "each at most once, in curriculum order")
    # evaluation, validation
    if ev.cache_sizes and "byteloom" not in cu.variants:
        _fail(source, "evaluation.cache_sizes", "the cache-size rows sample the `byteloom` variant, which "
                                                "curriculum.variants does not define")
    if not 2 <= ev.clips <= d.clips["test"]:  # the `other_clip` sanity row needs a second clip
        _fail(source, "evaluation.clips", f"must be in 2..data.clips.test ({d.clips['test']}), got {ev.clips}")
    for i, k in enumerate(ev.cache_sizes):
        if not 1 <= k <= d.cache_views:
            _fail(source, f"evaluation.cache_sizes[{i}]", f"must be in 1..data.cache_views ({d.cache_views}), got {k}")
    if not 1 <= va.clips <= d.clips["test"]:
        _fail(source, "validation.clips", f"must be in 1..data.clips.test ({d.clips['test']}), got {va.clips}")
    if not va.strengths or va.strengths[0] != 0 or any(not 0 <= x <= 1 for x in va.strengths):
        _fail(source, "validation.strengths", f"must start at 0.0 and lie in [0, 1], got {list(va.strengths)}")


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
