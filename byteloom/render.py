"""Headless rendering with pyrender (EGL + Mesa) in the OpenCV camera convention.

Four fixes to pyrender's defaults matter here and are made once, at import:
- `PYOPENGL_PLATFORM=egl` before OpenGL is imported (no display on CI or servers);
- no multisample antialiasing: pyrender allocates 4x MSAA buffers, which blend colours across the
  silhouette and across triangle edges. RCM colours and face ids must be exact per pixel, so the
  renderbuffers are allocated single-sampled (`_single_sample`, below);
- OpenCV intrinsics: pyrender puts pixel centres at +0.5, OpenCV at integers, hence `cx + 0.5`;
- one renderer's end must not end the others: pyrender's EGL platform calls `eglTerminate` on the
  process-wide default display when any renderer is deleted, which breaks every other renderer
  (EGL_BAD_DISPLAY). `_delete_context_keep_display` destroys only the renderer's own context.
The camera sits at the origin of the scene; each object is placed at its `obj_to_cam` pose.
"""
from __future__ import annotations

import os

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import functools  # noqa: E402
import weakref  # noqa: E402

import numpy as np  # noqa: E402

if not hasattr(np, "infty"):  # pyrender 0.1.45 still uses the alias that numpy 2 removed
    np.infty = np.inf

import pyrender  # noqa: E402
from OpenGL import GL  # noqa: E402
from pyrender import renderer as _pyrender_renderer  # noqa: E402

from .geometry import check_intrinsics, check_pose, check_size  # noqa: E402


def _single_sample(target, samples, internalformat, width, height):
    GL.glRenderbufferStorageMultisample(target, 0, internalformat, width, height)


_pyrender_renderer.glRenderbufferStorageMultisample = _single_sample


def _delete_context_keep_display(self):
    from OpenGL.EGL import eglDestroyContext

    if self._egl_display is not None and self._egl_context is not None:
        eglDestroyContext(self._egl_display, self._egl_context)
    self._egl_context = None
    self._egl_display = None


if os.environ["PYOPENGL_PLATFORM"] == "egl":
    from pyrender.platforms import egl as _pyrender_egl

    _pyrender_egl.EGLPlatform.delete_context = _delete_context_keep_display

CV_TO_GL = np.diag([1.0, -1.0, -1.0, 1.0])  # OpenCV camera axes -> OpenGL camera axes
FLAT = pyrender.RenderFlags.FLAT
LIT = pyrender.RenderFlags.NONE
MAX_CACHED_MESHES = 512


class Renderer:
    """An offscreen GL context of one size with a persistent scene.

    Meshes are uploaded once and kept on the GPU (hidden when not drawn), so rendering a video
    costs one draw per frame. Meshes are cached by identity: treat a mesh as immutable once drawn.
    """

    def __init__(self, size, znear: float = 0.01, zfar: float = 100.0):
        self.size = check_size(size)
        h, w = self.size
        self._gl = pyrender.OffscreenRenderer(viewport_width=w, viewport_height=h)
        self.scene = pyrender.Scene(bg_color=[0.0, 0.0, 0.0, 0.0], ambient_light=[0.45] * 3)
        self._camera = pyrender.IntrinsicsCamera(1.0, 1.0, 0.0, 0.0, znear=znear, zfar=zfar)
        self.scene.add(self._camera, pose=CV_TO_GL)
        self.scene.add(pyrender.DirectionalLight(intensity=2.5), pose=CV_TO_GL)  # head light
        self._nodes: dict = {}  # key -> (weakref to the source object, pyrender.Node)

    def node(self, source, kind: str, make) -> pyrender.Node:
        """The scene node showing `source` (e.g. a trimesh) as `kind`; `make()` builds its mesh."""
        key = (id(source), kind)
        entry = self._nodes.pop(key, None)
        if entry is not None and entry[0]() is source:
            self._nodes[key] = entry  # most recently used last
            return entry[1]
        if entry is not None:  # the id was reused by a new object
            self.scene.remove_node(entry[1])
        for k in [k for k, (ref, _) in self._nodes.items() if ref() is None]:  # sources garbage-collected
            self.scene.remove_node(self._nodes.pop(k)[1])
        while len(self._nodes) >= MAX_CACHED_MESHES:  # least recently used first
            self.scene.remove_node(self._nodes.pop(next(iter(self._nodes)))[1])
        mesh = make()
        mesh.is_visible = False
        node = self.scene.add(mesh)
        self._nodes[key] = (weakref.ref(source), node)
        return node

    def render(self, items, K, flags=FLAT, seg: bool = False):
        """Draw `items` = [(node, obj_to_cam), ...] seen through intrinsics `K`.

        Returns (image, depth): image is (H, W, 3) uint8, or with `seg=True` an (H, W) int32 map
        holding i+1 where item i is the front surface (0 = background); depth is metric z, 0 where
        empty.
        """
        K = check_intrinsics(K)
        self._camera.fx, self._camera.fy = K[0, 0], K[1, 1]
        self._camera.cx, self._camera.cy = K[0, 2] + 0.5, K[1, 2] + 0.5
        for _, node in self._nodes.values():
            node.mesh.is_visible = False
        seg_map = {}
        for i, (node, pose) in enumerate(items):
            node.mesh.is_visible = True
            self.scene.set_pose(node, check_pose(pose, f"obj_to_cam of item {i}"))
            seg_map[node] = np.array([(i + 1) & 255, (i + 1) >> 8, 0])
        if seg:
            color, depth = self._gl.render(self.scene, pyrender.RenderFlags.SEG, seg_node_map=seg_map)
            labels = color[..., 0].astype(np.int32) + (color[..., 1].astype(np.int32) << 8)
            return labels, depth
        color, depth = self._gl.render(self.scene, flags)
        return color[..., :3], depth

    def close(self):
        self._gl.delete()


@functools.lru_cache(maxsize=8)
def get_renderer(size: tuple[int, int]) -> Renderer:
    """A shared renderer per image size (GL contexts are expensive to create)."""
    return Renderer(size)


def vertex_color_mesh(positions, colors, faces) -> pyrender.Mesh:
    """An unlit-friendly pyrender mesh with per-vertex float RGB colours in [0, 1]."""
    rgba = np.concatenate([colors, np.ones((len(colors), 1))], axis=1).astype(np.float32)
    material = pyrender.MetallicRoughnessMaterial(baseColorFactor=[1.0, 1.0, 1.0, 1.0], doubleSided=True)
    prim = pyrender.Primitive(
        positions=np.asarray(positions, dtype=np.float32),
        color_0=rgba,
        indices=np.asarray(faces, dtype=np.uint32),
        material=material,
    )
    return pyrender.Mesh([prim])


def textured_mesh(mesh) -> pyrender.Mesh:
    """The trimesh's own appearance (UV texture, vertex/face colours or plain material), lit."""
    return pyrender.Mesh.from_trimesh(mesh, smooth=False)
