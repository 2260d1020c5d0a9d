"""The conditioned Wan DiT: packing, fusion, LoRA, flow-matching training, resume, sampling, loading."""
from dataclasses import replace

import pytest
import torch
from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanPipeline

from byteloom.model import (ByteLoomModel, Conditions, LatentFusion, PatchCodec, WanVaeCodec, compute_dtype,
                            drop_conditions, load_wan, pack, place, tiny_transformer)
from byteloom.sample import sample, sample_long
from byteloom.train import (LatentClips, TrainConfig, add_lora, condition_usage, load_adapters, offloaded_checkpoint,
                            parameter_counts, save_adapters, train, trainable_state)

C, T, V, H, W = 12, 3, 2, 4, 4  # latent channels (patch codec p=2), frames, cache views, latent size
TARGETS = ["attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0"]


def make_model(seed=0, lora=True):
    torch.manual_seed(seed)
    m = ByteLoomModel(tiny_transformer(C, heads=2, head_dim=16, layers=2, ffn_dim=64, text_dim=32, seed=seed),
                      LatentFusion(C, hidden=32))
    if lora:
        add_lora(m, rank=4, alpha=4, targets=TARGETS)
    return m


def make_data(n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    cond = Conditions(ref=r(n, C, 1, H, W), pose=r(n, C, T, H, W), rcm=r(n, C, T, H, W),
                      cache_rgb=r(n, C, V, H, W), cache_rcm=r(n, C, V, H, W))
    video = cond.rcm * 0.5 + cond.pose * 0.5  # learnable: the video is a function of its conditions
    return LatentClips(video, cond)


def test_packing_lays_out_frames_and_channels_as_the_paper():
    n = 1
    const = lambda v, f: torch.full((n, C, f, H, W), float(v))  # noqa: E731
    cond = Conditions(ref=const(1, 1), cache_rgb=const(2, V), cache_rcm=const(3, V), rcm=const(4, T), pose=const(5, T))
    packed, prefix = pack(const(9, T), cond)
    assert packed.shape == (n, 3 * C, 1 + V + T, H, W) and prefix == 1 + V
    content, rcm, pose = packed[:, :C], packed[:, C:2 * C], packed[:, 2 * C:]
    per_frame = lambda x: x[0, 0, :, 0, 0].tolist()  # noqa: E731
    assert per_frame(content) == [1, 2, 2, 9, 9, 9]  # reference | cache RGB | video
    assert per_frame(rcm) == [0, 3, 3, 4, 4, 4]  # - | cache RCM | per-frame RCM
    assert per_frame(pose) == [0, 0, 0, 5, 5, 5]  # pose on video frames only
    no_cache = drop_conditions(cond, "rcm_only")
    assert pack(const(9, T), no_cache)[1] == 1
    single = drop_conditions(cond, "single_view")
    assert single.rcm is None and single.cache_rgb.shape[2] == 1 and pack(const(9, T), single)[1] == 2


def test_fusion_is_the_identity_at_step_zero():
    data = make_data()
    packed, _ = pack(data.video, data.cond)
    fusion = LatentFusion(C, hidden=32)
    assert torch.equal(fusion(packed), packed[:, :C])
    m = make_model()  # and the whole model equals the backbone on the unfused content at step 0
    sigma = torch.tensor([0.5, 0.5])
    out = m(data.video, sigma, data.cond)
    t = torch.full((2, (1 + V + T) * 4), 500.0)
    t[:, : (1 + V) * 4] = 0
    ref = m.transformer(packed[:, :C], timestep=t, encoder_hidden_states=m.null_text.expand(2, -1, -1), return_dict=False)[0]
    assert torch.allclose(out, ref[:, :, 1 + V:], atol=1e-6)


def test_mismatched_condition_shapes_are_clear_errors():
    data = make_data()
    bad = Conditions(**{**vars(data.cond), "pose": data.cond.pose[:, :, :2]})
    with pytest.raises(ValueError, match=r"condition 'pose' has shape \(2, 12, 2, 4, 4\), expected \(2, 12, 3, 4, 4\)"):
        pack(data.video, bad)
    bad = Conditions(**{**vars(data.cond), "cache_rcm": data.cond.cache_rcm[:, :, :1]})
    with pytest.raises(ValueError, match="RCM-RGB pairs"):
        pack(data.video, bad)
    with pytest.raises(ValueError, match="unknown conditioning variant"):
        drop_conditions(data.cond, "no_object")


def test_lora_targets_and_parameter_counts():
    m = make_model()
    counts = parameter_counts(m)
    assert counts["lora"] == 2 * 4 * (4 * 32 + 32 * 4)  # 2 blocks x 4 projections x (A: r x in + B: out x r)
    assert counts["trainable"] == counts["lora"] + counts["fusion"] + counts["null_text"]
    assert not any(p.requires_grad for n, p in m.transformer.named_parameters() if "lora_" not in n)
    with pytest.raises(ValueError, match="matches no module"):
        add_lora(make_model(lora=False), 4, 4, ["attn9.to_q"])


def test_loss_decreases_on_a_fixed_small_batch(tmp_path):
    m = make_model()
    cfg = TrainConfig(steps=300, batch_size=2, lr=1e-2, ref_dropout=0.0, checkpoint_every=1000)
    train(m, make_data(), cfg, tmp_path)
    losses = [float(r.split(",")[1]) for r in (tmp_path / "loss.csv").read_text().split()[1:]]
    assert len(losses) == 300
    assert sum(losses[-30:]) / 30 < 0.8 * sum(losses[:10]) / 10  # measured: 1.75 -> 1.24


def test_adapters_round_trip_and_load_into_a_wan_pipeline(tmp_path):
    m = make_model()
    train(m, make_data(), TrainConfig(steps=5, lr=1e-2, checkpoint_every=1000), tmp_path / "run")
    save_adapters(m, tmp_path / "adapters")
    fresh = make_model()
    data = make_data()
    sigma = torch.tensor([0.3, 0.7])
    assert not torch.allclose(fresh(data.video, sigma, data.cond), m(data.video, sigma, data.cond))
    load_adapters(fresh, tmp_path / "adapters")
    assert torch.equal(fresh(data.video, sigma, data.cond), m(data.video, sigma, data.cond))

    pipe = WanPipeline(tokenizer=None, text_encoder=None, transformer=make_model(lora=False).transformer,
                       vae=AutoencoderKLWan(base_dim=16, z_dim=16, num_res_blocks=1),
                       scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0))
    pipe.load_lora_weights(tmp_path / "adapters")
    ours = {k: v for k, v in m.transformer.state_dict().items() if "lora_B" in k}
    theirs = {k: v for k, v in pipe.transformer.state_dict().items() if "lora_B" in k}
    assert len(ours) == len(theirs) == 8
    assert all(torch.equal(a, b) for a, b in zip(ours.values(), theirs.values()))
    with pytest.raises(FileNotFoundError, match="not a ByteLoom adapter folder"):
        load_adapters(fresh, tmp_path)


class Killed(Exception):
    pass


class KillAt(LatentClips):
    """A data source that dies when step `at` asks for its batch (a simulated kill)."""

    def __init__(self, data, at):
        super().__init__(data.video, data.cond)
        self.calls, self.at = 0, at

    def batch(self, generator, size):
        if self.calls == self.at:
            raise Killed
        self.calls += 1
        return super().batch(generator, size)


def test_a_killed_run_resumes_to_the_same_parameters(tmp_path):
    cfg = TrainConfig(steps=12, lr=3e-3, checkpoint_every=4)
    straight = make_model()
    train(straight, make_data(), cfg, tmp_path / "a")

    killed = make_model()
    with pytest.raises(Killed):
        train(killed, KillAt(make_data(), at=10), cfg, tmp_path / "b")  # dies in step 11; checkpoint at 8
    resumed = make_model()
    info = train(resumed, make_data(), cfg, tmp_path / "b")
    assert info["resumed_from"] == 8
    a, b = trainable_state(straight), trainable_state(resumed)
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert (tmp_path / "a" / "loss.csv").read_text() == (tmp_path / "b" / "loss.csv").read_text()


def test_a_checkpoint_of_another_run_is_set_aside_not_resumed(tmp_path):
    train(make_model(), make_data(), TrainConfig(steps=4, checkpoint_every=2), tmp_path, run_id="a")
    info = train(make_model(), make_data(), TrainConfig(steps=4, checkpoint_every=2), tmp_path, run_id="b")
    assert info["resumed_from"] == 0 and (tmp_path / "checkpoint.pt.stale").exists()
    assert info["start"] == "fresh (checkpoint of other run set aside)"


def test_a_checkpoint_of_other_code_is_set_aside_not_resumed(tmp_path, monkeypatch):
    """The run identity covers the package's code: a change to the model, the loss or the
    conditioning code retrains an interrupted run instead of resuming it."""
    import byteloom.train as T

    cfg = TrainConfig(steps=6, checkpoint_every=2)
    with pytest.raises(Killed):
        train(make_model(), KillAt(make_data(), at=3), cfg, tmp_path)  # checkpoint at step 2
    monkeypatch.setattr(T, "code_digest", lambda: "edited-code")
    info = train(make_model(), make_data(), cfg, tmp_path)
    assert info["resumed_from"] == 0 and info["start"] == "fresh (checkpoint of other code set aside)"
    assert len((tmp_path / "loss.csv").read_text().splitlines()) == 1 + 6  # all six steps trained now


def test_the_code_digest_covers_every_source_file_of_the_package(tmp_path, monkeypatch):
    import byteloom.train as T

    pkg = tmp_path / "pkg"
    (pkg / "metrics").mkdir(parents=True)
    (pkg / "model.py").write_text("x = 1\n")
    (pkg / "metrics" / "m.py").write_text("y = 1\n")
    monkeypatch.setattr(T, "PACKAGE_DIR", pkg)
    before = T.code_digest()
    (pkg / "metrics" / "m.py").write_text("y = 2\n")
    assert T.code_digest() != before
    (pkg / "metrics" / "m.py").write_text("y = 1\n")
    assert T.code_digest() == before


def test_nan_loss_stops_with_a_clear_error(tmp_path):
    data = make_data()
    data.video[0, 0, 0, 0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match="loss became nan at step 0"):
        train(make_model(), data, TrainConfig(steps=3, batch_size=2), tmp_path)
    assert not (tmp_path / "loss.csv").exists()


@pytest.mark.parametrize("scheduler", ["euler", "unipc"])
def test_sampling_and_multi_segment_length(scheduler):
    m = make_model()
    g = torch.Generator().manual_seed(1)
    n_frames = 7
    cond = Conditions(ref=torch.randn(1, C, 1, H, W, generator=g), pose=torch.randn(1, C, n_frames, H, W, generator=g),
                      rcm=torch.randn(1, C, n_frames, H, W, generator=g))
    out = sample_long(m, cond, window=3, overlap=1, steps=4, scheduler=scheduler, guidance=2.0, seed=3)
    assert out.shape == (1, C, n_frames, H, W) and torch.isfinite(out).all()
    again = sample_long(m, cond, window=3, overlap=1, steps=4, scheduler=scheduler, guidance=2.0, seed=3)
    assert torch.equal(out, again)  # the seed fixes the result
    known = torch.randn(1, C, 1, H, W, generator=g)
    seg = sample(m, cond, n_frames, steps=4, scheduler=scheduler, known=known)
    assert torch.equal(seg[:, :, :1], known)


@pytest.mark.parametrize("mode", ["checkpointing", "offload"])
def test_checkpointing_and_offloaded_activations_give_the_same_gradients(mode):
    """Gradient checkpointing, plain or with each block's input parked on the CPU
    (`offloaded_checkpoint`, for 1.3B LoRA on small GPUs), changes memory, not gradients."""
    data = make_data()
    sigma = torch.tensor([0.3, 0.7])

    def grads(m):
        m.train()
        m(data.video, sigma, data.cond).pow(2).mean().backward()
        return {n: p.grad.clone() for n, p in m.named_parameters() if p.requires_grad and p.grad is not None}

    plain, other = make_model(), make_model()
    if mode == "offload":
        other.transformer.enable_gradient_checkpointing(offloaded_checkpoint)
    else:
        other.transformer.enable_gradient_checkpointing()
    a, b = grads(plain), grads(other)
    assert a.keys() == b.keys() and any("lora_B" in k for k in a)
    assert all(torch.allclose(a[k], b[k], atol=1e-6, rtol=1e-5) for k in a)


def test_a_model_placed_in_bf16_samples_under_autocast_close_to_float32():
    """`place` puts frozen matrices in bf16 as training on a GPU does; sampling must still run (the
    mixed-dtype model under autocast) and stay close to the float32 result. Checked here on the CPU."""
    m = make_model()
    g = torch.Generator().manual_seed(2)
    cond = Conditions(ref=torch.randn(1, C, 1, H, W, generator=g), pose=torch.randn(1, C, T, H, W, generator=g),
                      rcm=torch.randn(1, C, T, H, W, generator=g))
    full = sample(m, cond, T, steps=4, scheduler="unipc", seed=0)
    place(m, device="cpu", mixed_precision="bf16")
    assert m.transformer.blocks[0].attn1.to_q.base_layer.weight.dtype == torch.bfloat16
    assert m.transformer.blocks[0].attn1.to_q.lora_A["default"].weight.dtype == torch.float32  # trained: fp32
    assert compute_dtype(m) == torch.bfloat16
    half = sample(m, cond, T, steps=4, scheduler="unipc", seed=0)
    assert half.dtype == torch.float32 and torch.isfinite(half).all()
    assert (half - full).abs().max() < 0.1 * full.abs().max()
    x0 = torch.randn(2, C, T, H, W, generator=g)
    two = Conditions(ref=torch.randn(2, C, 1, H, W, generator=g), pose=torch.randn(2, C, T, H, W, generator=g),
                     rcm=torch.randn(2, C, T, H, W, generator=g))
    usage = condition_usage(m, x0, two, torch.ones(2, 1, T, H, W, dtype=torch.bool))  # the same autocast
    assert all(v > 0 for e in usage.values() for v in e.values())
    with pytest.raises(ValueError, match="mixed_precision"):
        place(m, device="cpu", mixed_precision="int8")


def test_checkpoints_load_by_path_with_clear_errors(tmp_path):
    tr = tiny_transformer(16, heads=2, head_dim=16, layers=1, ffn_dim=32, text_dim=32)
    tr.save_pretrained(tmp_path / "wan" / "transformer")
    vae = AutoencoderKLWan(base_dim=16, z_dim=16, num_res_blocks=1)
    vae.save_pretrained(tmp_path / "wan" / "vae")
    back = load_wan(tmp_path / "wan")
    assert all(torch.equal(a, b) for a, b in zip(tr.state_dict().values(), back.state_dict().values()))
    codec = WanVaeCodec(load_wan(tmp_path / "wan", "vae"))
    z = codec.encode(torch.rand(1, 3, 5, 32, 32) * 2 - 1)
    assert z.shape == (1, 16, 2, 4, 4) and (codec.spatial_factor, codec.temporal_factor) == (8, 4)
    assert codec.decode(z).shape == (1, 3, 5, 32, 32)

    with pytest.raises(FileNotFoundError, match="nowhere: Wan checkpoint folder does not exist"):
        load_wan(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty: not a diffusers model folder"):
        load_wan(tmp_path / "empty")
    LatentFusion(16).save_pretrained(tmp_path / "other" / "transformer")
    with pytest.raises(ValueError, match="is a 'LatentFusion', not a WanTransformer3DModel"):
        load_wan(tmp_path / "other")


def test_patch_codec_is_exactly_invertible():
    codec = PatchCodec(4)
    x = torch.rand(2, 3, 5, 32, 48) * 2 - 1
    z = codec.encode(x)
    assert z.shape == (2, 48, 5, 8, 12) and torch.equal(codec.decode(z), x)
    with pytest.raises(ValueError, match="not divisible"):
        codec.encode(torch.zeros(1, 3, 1, 30, 32))


def test_denoising_error_against_models_that_know_nothing_or_everything():
    from byteloom.train import denoising_error

    x0 = torch.randn(2, 4, 3, 4, 4, generator=torch.Generator().manual_seed(1)) * 0.3
    cond = None
    keep = denoising_error(lambda xs, s, c: torch.zeros_like(xs), x0, cond)  # v = 0: x̂₀ = x_σ
    for s, e in keep.items():
        assert e["model"] == pytest.approx(e["keep"])
        assert e["keep"] == pytest.approx(s**2 * (x0.pow(2).mean().item() + 1), rel=0.35)
    oracle = denoising_error(lambda xs, s, c: (xs - x0) / s.view(-1, 1, 1, 1, 1), x0, cond)
    assert all(e["model"] < 1e-10 for e in oracle.values())
    assert keep[0.95]["keep"] > keep[0.95]["mean"] > keep[0.05]["keep"]


def test_condition_usage_tells_a_model_that_reads_the_rcm_from_one_that_ignores_it():
    data = make_data(n=3)
    x0, cond = data.video, data.cond
    region = torch.ones(3, 1, T, H, W, dtype=torch.bool)

    def reads_rcm(x, sigma, c):  # knows x0 exactly from the per-frame RCM (the toy data's video = rcm/2 + pose/2)
        s = sigma.view(-1, 1, 1, 1, 1)
        return (x - (c.rcm * 0.5 + c.pose * 0.5)) / s

    def ignores(x, sigma, c):
        return torch.zeros_like(x)

    used = condition_usage(reads_rcm, x0, cond, region, sigmas=(0.5,))[0.5]
    assert used["own"] < 1e-10 and used["rcm_swapped"] > 0.1 and used["both_swapped"] == pytest.approx(used["rcm_swapped"])
    assert used["cache_swapped"] < 1e-10  # it never looks at the cache
    ignored = condition_usage(ignores, x0, cond, region, sigmas=(0.5,))[0.5]
    assert len(set(ignored.values())) == 1
    pose_only = drop_conditions(cond, "pose_only")
    assert set(condition_usage(ignores, x0, pose_only, region)[0.9]) == {"own"}
    with pytest.raises(ValueError, match="non-empty"):
        condition_usage(ignores, x0, cond, torch.zeros_like(region))
    with pytest.raises(ValueError, match="at least 2 clips"):
        condition_usage(ignores, x0[:1], cond.select(slice(0, 1)), region[:1])


def test_ema_and_schedule_resume_to_the_same_parameters(tmp_path):
    """With a cosine schedule, warm-up, logit-normal sigmas and an EMA, a killed run still resumes
    bit-identically, and the run ends on the EMA weights (not the last step's)."""
    cfg = TrainConfig(steps=10, lr=3e-3, checkpoint_every=4, lr_schedule="cosine", warmup_steps=3, ema_decay=0.9,
                      sigma_sampling="logit_normal")
    straight = make_model()
    train(straight, make_data(), cfg, tmp_path / "a")
    with pytest.raises(Killed):
        train(make_model(), KillAt(make_data(), at=6), cfg, tmp_path / "b")  # checkpoint at step 4
    resumed = make_model()
    info = train(resumed, make_data(), cfg, tmp_path / "b")
    assert info["start"] == "resumed at step 4"
    a, b = trainable_state(straight), trainable_state(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    raw = make_model()
    train(raw, make_data(), replace(cfg, ema_decay=0.0), tmp_path / "c")
    assert any(not torch.allclose(a[k], trainable_state(raw)[k]) for k in a)  # the EMA is what the run keeps
