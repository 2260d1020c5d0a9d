"""The ByteLoom model on diffusers' Wan2.1 DiT: condition packing and MLP latent fusion (paper §3.1).

Every condition is encoded by the same latent codec as the video, then laid out as in the paper:

    frames  →   [ reference | cache view 1 … V        | video frame 1 … T ]
    content     ref latent    cache RGB latents         noisy video latents   ┐ concatenated along
    RCM slot    0             cache RCM latents         per-frame RCM latents ├ channels, then the
    pose slot   0             0                         OpenPose latents      ┘ MLP latent fusion

The reference image and the RCM-cache are extra latent frames in front of the video (frame
dimension); the per-frame RCM and pose join the video frames on the channel dimension. The fusion
MLP maps the 3C channels back to the backbone's C input channels and is a residual whose last
layer starts at zero, so at step 0 the backbone sees exactly the noisy latents it was pretrained
on. Prefix frames are clean: they get timestep 0 through the backbone's per-token timesteps; the
loss is taken on the video frames only.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKLWan, ModelMixin, WanTransformer3DModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from torch import nn

from .config import DESIGNS

# ---------------------------------------------------------------------------------- codecs


class PatchCodec(nn.Module):
    """A fixed, exactly invertible codec for the CPU profile: p x p pixel patches become channels.

    No training, no compression loss: the diffusion model itself is what we study at small scale.
    (B, 3, T, H, W) in [-1, 1] → (B, 3 p², T, H/p, W/p). No temporal compression.
    """

    temporal_factor = 1

    def __init__(self, patch: int = 4):
        super().__init__()
        self.patch = self.spatial_factor = patch
        self.latent_channels = 3 * patch * patch

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = video.shape
        if h % self.patch or w % self.patch:
            raise ValueError(f"frame size {h}x{w} is not divisible by the codec patch {self.patch}")
        x = video.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)
        x = F.pixel_unshuffle(x, self.patch)
        return x.reshape(b, t, -1, h // self.patch, w // self.patch).permute(0, 2, 1, 3, 4)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = latents.shape
        x = latents.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)
        x = F.pixel_shuffle(x, self.patch)
        return x.reshape(b, t, 3, h * self.patch, w * self.patch).permute(0, 2, 1, 3, 4)


class WanVaeCodec(nn.Module):
    """Wan2.1's causal video VAE (8x spatial, 4x temporal), latents normalised as in WanPipeline."""

    def __init__(self, vae: AutoencoderKLWan):
        super().__init__()
        self.vae = vae.requires_grad_(False)
        self.latent_channels = vae.config.z_dim
        self.spatial_factor = 2 ** len(vae.config.temperal_downsample)  # sic: diffusers' spelling
        self.temporal_factor = 2 ** sum(vae.config.temperal_downsample)
        self.register_buffer("mean", torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(vae.config.latents_std).view(1, -1, 1, 1, 1), persistent=False)

    @torch.no_grad()
    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """Runs where the VAE is (the GPU after `place`); returns float32 latents on the CPU (the cache)."""
        z = self.vae.encode(video.to(self.mean.device, self.vae.dtype)).latent_dist.mode()
        return ((z.float() - self.mean) / self.std).cpu()

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        z = latents.to(self.mean.device, torch.float32) * self.std + self.mean
        return self.vae.decode(z.to(self.vae.dtype)).sample.float().clamp(-1, 1).cpu()


# ---------------------------------------------------------------------------------- conditions


@dataclass
class Conditions:
    """Encoded conditions of a batch, each (B, C, frames, h, w); absent ones are None.

    `ref`: 1 frame; `cache_rgb`/`cache_rcm`: V frames; `rcm`/`pose`: the video's latent frames.
    """

    ref: torch.Tensor
    pose: torch.Tensor
    rcm: torch.Tensor | None = None
    cache_rgb: torch.Tensor | None = None
    cache_rcm: torch.Tensor | None = None

    def to(self, *args, **kwargs) -> "Conditions":
        return Conditions(**{k: (v.to(*args, **kwargs) if v is not None else None) for k, v in vars(self).items()})

    def select(self, index) -> "Conditions":
        return Conditions(**{k: (v[index] if v is not None else None) for k, v in vars(self).items()})


VARIANTS = DESIGNS  # byteloom.config.DESIGNS: the one list of conditioning designs


def drop_conditions(cond: Conditions, variant: str) -> Conditions:
    """The ablation designs the paper compares (Tables 2-3 and the baselines' conditioning):

    - rcm_cache: everything (ByteLoom);
    - rcm_only: per-frame RCM but no cache (geometry without an appearance prior);
    - single_view: no RCM at all, the object as one RGB reference view (AnchorCrafter-like);
      the caller passes that view as a one-view cache with `cache_rcm` ignored;
    - pose_only: human animation with no object condition (UniAnimate/MimicMotion-like).
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown conditioning variant {variant!r}; choose one of {VARIANTS}")
    if variant == "rcm_cache":
        return cond
    if variant == "rcm_only":
        return replace(cond, cache_rgb=None, cache_rcm=None)
    if variant == "single_view":
        return replace(cond, rcm=None, cache_rcm=None, cache_rgb=None if cond.cache_rgb is None else cond.cache_rgb[:, :, :1])
    return replace(cond, rcm=None, cache_rgb=None, cache_rcm=None)


def check_conditions(video: torch.Tensor, cond: Conditions) -> None:
    """Raise a clear error when a condition's shape does not fit the video latents."""
    b, c, t, h, w = video.shape
    for name, x, frames in [("ref", cond.ref, 1), ("pose", cond.pose, t), ("rcm", cond.rcm, t),
                            ("cache_rgb", cond.cache_rgb, None), ("cache_rcm", cond.cache_rcm, None)]:
        if x is None:
            continue
        want = (b, c, frames if frames is not None else x.shape[2], h, w)
        if tuple(x.shape) != want:
            raise ValueError(f"condition '{name}' has shape {tuple(x.shape)}, expected {want} for video latents {tuple(video.shape)}")
    if cond.cache_rcm is not None and (cond.cache_rgb is None or cond.cache_rcm.shape != cond.cache_rgb.shape):
        raise ValueError("condition 'cache_rcm' needs a 'cache_rgb' of the same shape (RCM-RGB pairs)")


def pack(video: torch.Tensor, cond: Conditions) -> tuple[torch.Tensor, int]:
    """Lay out [content | RCM | pose] channels over [ref | cache | video] frames (module docstring).

    Returns (B, 3C, 1 + V + T, h, w) and the number of prefix frames 1 + V.
    """
    check_conditions(video, cond)
    zeros = lambda frames: video.new_zeros(video.shape[0], video.shape[1], frames, *video.shape[3:])  # noqa: E731
    views = 0 if cond.cache_rgb is None else cond.cache_rgb.shape[2]
    t = video.shape[2]
    content = torch.cat([cond.ref] + ([cond.cache_rgb] if views else []) + [video], dim=2)
    rcm_slot = torch.cat([zeros(1), cond.cache_rcm if cond.cache_rcm is not None else zeros(views),
                          cond.rcm if cond.rcm is not None else zeros(t)], dim=2)
    pose_slot = torch.cat([zeros(1 + views), cond.pose], dim=2)
    return torch.cat([content, rcm_slot, pose_slot], dim=1), 1 + views


class LatentFusion(ModelMixin, ConfigMixin):
    """MLP latent fusion (paper §3.1): a per-position MLP over the packed channels, as a residual.

    out = content + MLP([content | RCM | pose]); the last layer is zero-initialised, so at step 0
    the fusion is the identity on the content channels (the pretrained backbone is unchanged).
    """

    @register_to_config
    def __init__(self, latent_channels: int = 16, slots: int = 3, hidden: int = 256):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Conv3d(latent_channels * slots, hidden, 1), nn.SiLU(), nn.Conv3d(hidden, latent_channels, 1)
        )
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, packed: torch.Tensor) -> torch.Tensor:
        return packed[:, : self.config.latent_channels] + self.mlp(packed)


# ---------------------------------------------------------------------------------- the model


class ByteLoomModel(nn.Module):
    """Fusion → Wan DiT → velocity of the video frames. `null_text` stands in for a prompt."""

    def __init__(self, transformer: WanTransformer3DModel, fusion: LatentFusion, text_len: int = 4):
        super().__init__()
        c = transformer.config
        if c.in_channels != fusion.config.latent_channels or c.out_channels != c.in_channels:
            raise ValueError(f"backbone in/out channels ({c.in_channels}/{c.out_channels}) must equal the "
                             f"fusion's latent channels ({fusion.config.latent_channels})")
        self.transformer, self.fusion = transformer, fusion
        self.null_text = nn.Parameter(torch.zeros(text_len, c.text_dim))

    @property
    def patch_size(self) -> tuple[int, int, int]:
        return tuple(self.transformer.config.patch_size)

    def forward(self, noisy: torch.Tensor, sigma: torch.Tensor, cond: Conditions) -> torch.Tensor:
        """Predict the flow velocity (noise − data) of the video latents `noisy` at noise level `sigma` (B,)."""
        packed, prefix = pack(noisy, cond)
        x = self.fusion(packed)
        b, _, f, h, w = x.shape
        pt, ph, pw = self.patch_size
        if h % ph or w % pw or f % pt:
            raise ValueError(f"latent size {f}x{h}x{w} is not divisible by the backbone patch {self.patch_size}")
        per_frame = (h // ph) * (w // pw)
        t = (sigma.float() * 1000).view(b, 1).expand(b, f).clone()
        t[:, :prefix] = 0  # clean condition frames
        timestep = t.repeat_interleave(per_frame, dim=1)
        text = self.null_text.unsqueeze(0).expand(b, -1, -1).to(x.dtype)
        out = self.transformer(x, timestep=timestep.to(x.dtype), encoder_hidden_states=text, return_dict=False)[0]
        return out[:, :, prefix:]


def half_frozen(model: ByteLoomModel, dtype: torch.dtype) -> None:
    """Mixed precision as in training on a GPU: the backbone's frozen weight matrices in `dtype`
    (bf16), everything trained (LoRA, fusion, prompt) and every vector (norms, biases) in float32."""
    for p in model.transformer.parameters():
        if not p.requires_grad and p.ndim >= 2:
            p.data = p.data.to(dtype)


def compute_dtype(model: ByteLoomModel) -> torch.dtype | None:
    """The half dtype a model's frozen weights are in (run it under autocast), or None for float32."""
    backbone = getattr(model, "transformer", None)  # anything else (a plain velocity function) runs as it is
    params = backbone.parameters() if backbone is not None else ()
    return next((p.dtype for p in params if p.dtype in (torch.bfloat16, torch.float16)), None)


def autocast(model: ByteLoomModel, device: torch.device):
    """The autocast context a model's precision needs: on for a model placed in bf16/fp16, else off."""
    half = compute_dtype(model)
    return torch.autocast(device.type, dtype=half or torch.bfloat16, enabled=half is not None)


def place(model: ByteLoomModel, codec: nn.Module | None = None, device: str | torch.device | None = None,
          mixed_precision: str = "auto") -> ByteLoomModel:
    """Move a model (and a Wan VAE codec) to `device`, default the GPU when there is one, else the CPU.

    mixed_precision "auto" means bf16 frozen weights on a GPU and float32 on the CPU (bf16 is ~26x
    slower on these CPUs); "no", "bf16" or "fp16" force it. `sample` runs under the matching autocast.
    """
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    mp = ("bf16" if device.type == "cuda" else "no") if mixed_precision == "auto" else mixed_precision
    if mp not in ("no", "bf16", "fp16"):
        raise ValueError(f"mixed_precision must be auto, no, bf16 or fp16, got {mixed_precision!r}")
    model.to(device)
    if mp != "no":
        half_frozen(model, torch.bfloat16 if mp == "bf16" else torch.float16)
    if isinstance(codec, WanVaeCodec):
        codec.to(device)
    return model


def tiny_transformer(latent_channels: int, heads: int = 2, head_dim: int = 32, layers: int = 2, ffn_dim: int = 256,
                     text_dim: int = 64, patch: tuple[int, int, int] = (1, 2, 2), seed: int = 0) -> WanTransformer3DModel:
    """A small, randomly initialised WanTransformer3DModel (the real class, a tiny config)."""
    torch.manual_seed(seed)
    return WanTransformer3DModel(
        patch_size=tuple(patch), num_attention_heads=heads, attention_head_dim=head_dim, in_channels=latent_channels,
        out_channels=latent_channels, text_dim=text_dim, freq_dim=64, ffn_dim=ffn_dim, num_layers=layers,
        rope_max_seq_len=1024,
    )


WAN_1_3B = dict(  # Wan2.1-T2V-1.3B's transformer config (diffusers format), for benchmarks with random weights
    patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16, out_channels=16,
    text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=30, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
    eps=1e-6, rope_max_seq_len=1024,
)


def load_wan(checkpoint: str | Path, subfolder: str = "transformer", dtype=torch.float32):
    """Load the transformer (or `subfolder='vae'`) of a local diffusers-format Wan2.1 checkpoint.

    Errors name the path: missing folder, no `config.json`, or a config of another model class.
    """
    root = Path(checkpoint)
    folder = root / subfolder if (root / subfolder).is_dir() else root
    if not root.exists():
        raise FileNotFoundError(f"{root}: Wan checkpoint folder does not exist")
    cfg_file = folder / "config.json"
    if not cfg_file.is_file():
        raise ValueError(f"{folder}: not a diffusers model folder (no config.json); expected a Wan2.1 checkpoint "
                         f"with '{subfolder}/config.json'")
    cls = WanTransformer3DModel if subfolder == "transformer" else AutoencoderKLWan
    import json

    name = json.loads(cfg_file.read_text()).get("_class_name")
    if name != cls.__name__:
        raise ValueError(f"{cfg_file}: is a {name!r}, not a {cls.__name__} (is this a Wan2.1 checkpoint?)")
    return cls.from_pretrained(folder, torch_dtype=dtype)


def build_model(cfg, seed: int = 0) -> tuple[ByteLoomModel, nn.Module]:
    """The model and codec of a `ModelConfig`: a tiny random Wan DiT + patch codec by default, or the
    local Wan2.1 checkpoint's transformer and VAE (`cfg.checkpoint`) at paper scale. Same code path."""
    if cfg.checkpoint is not None:
        transformer = load_wan(cfg.checkpoint, "transformer")
        codec = WanVaeCodec(load_wan(cfg.checkpoint, "vae")) if cfg.codec == "wan_vae" else PatchCodec(cfg.codec_patch)
        if codec.latent_channels != transformer.config.in_channels:
            raise ValueError(f"{cfg.checkpoint}: the transformer takes {transformer.config.in_channels} channels but the "
                             f"'{cfg.codec}' codec gives {codec.latent_channels}; use codec: wan_vae with a Wan checkpoint")
    else:
        if cfg.codec != "patch":
            raise ValueError(f"model.codec: {cfg.codec!r} needs model.checkpoint (a local Wan2.1 folder); use 'patch'")
        codec = PatchCodec(cfg.codec_patch)
        width, token = cfg.heads * cfg.head_dim, codec.latent_channels * int(np.prod(cfg.patch))
        if width < token:
            raise ValueError(f"model: width heads*head_dim = {width} is below the {token} values per token "
                             f"(codec channels x patch {tuple(cfg.patch)}); the DiT could not pass the noise through")
        transformer = tiny_transformer(codec.latent_channels, cfg.heads, cfg.head_dim, cfg.layers, cfg.ffn_dim,
                                       cfg.text_dim, patch=cfg.patch, seed=seed)
    if isinstance(codec, WanVaeCodec) and torch.cuda.is_available():
        codec.to("cuda")  # encoding (once, cached) and decoding run on the GPU; latents come back to the CPU
    torch.manual_seed(seed)
    fusion = LatentFusion(transformer.config.in_channels, hidden=cfg.fusion_hidden)
    return ByteLoomModel(transformer, fusion, text_len=cfg.text_len), codec
