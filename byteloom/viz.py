"""Plotting helpers for the lesson notebooks: image grids, RCM-coloured meshes, GIFs, curves.

Only presentation lives here (matplotlib, plotly, PIL); every computation is in the other modules.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import plotly.graph_objects as go
from matplotlib.ticker import MaxNLocator
from PIL import Image

from .rcm import check_bounds, quantize, rcm_colors


def savefig(fig, path, dpi: int = 120) -> Path:
    """Save a matplotlib figure as PNG (creating the folder) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight", facecolor="white")
    return path


def image_grid(rows, row_labels=None, col_labels=None, cell: float = 1.9, suptitle: str | None = None):
    """A matplotlib figure showing `rows` (a list of lists of HxWx3 uint8 images) without axes.

    `row_labels` go on the left of each row, `col_labels` above each column of the first row
    (a list of lists gives one title per image instead).
    """
    rows = [list(r) for r in rows]
    nrows, ncols = len(rows), max(len(r) for r in rows)
    h, w = rows[0][0].shape[:2]
    fig, axes = plt.subplots(nrows, ncols, figsize=(cell * ncols * w / h, cell * nrows + 0.4), squeeze=False)
    for i, row in enumerate(rows):
        for j in range(ncols):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j >= len(row):
                ax.axis("off")
                continue
            ax.imshow(row[j], interpolation="nearest")
            if col_labels is not None:
                titles = col_labels[i] if isinstance(col_labels[0], (list, tuple)) else (col_labels if i == 0 else None)
                if titles is not None and j < len(titles):
                    ax.set_title(titles[j], fontsize=9)
            if row_labels is not None and j == 0:
                ax.set_ylabel(row_labels[i], fontsize=10)
    if suptitle:
        fig.suptitle(suptitle, fontsize=12)
    fig.tight_layout()
    return fig


def on_background(image, mask, color=(255, 255, 255)) -> np.ndarray:
    """`image` with the pixels outside `mask` set to `color` (for display only)."""
    out = np.array(image, copy=True)
    out[~np.asarray(mask, dtype=bool)] = color
    return out


def _rgb_strings(colors_u8) -> list[str]:
    return [f"rgb({r},{g},{b})" for r, g, b in np.asarray(colors_u8, dtype=int)]


def rcm_mesh_figure(mesh, bounds=None, title: str = "RCM of the object", shading: float = 0.25) -> go.Figure:
    """Interactive plotly Mesh3d of `mesh` with its 8-bit RCM as vertex colours, plus its box.

    The box corners are drawn as markers in their own RCM colour: b_min is black (0, 0, 0),
    b_max white (255, 255, 255). `shading` adds a little diffuse light so the shape reads in 3D;
    0 shows the exact, unlit colours.
    """
    b = np.asarray(mesh.bounds if bounds is None else check_bounds(bounds), dtype=np.float64)
    v, f = np.asarray(mesh.vertices), np.asarray(mesh.faces)
    colors = quantize(rcm_colors(v, b))
    corners = np.array([[b[i, 0], b[j, 1], b[k, 2]] for i in (0, 1) for j in (0, 1) for k in (0, 1)])
    corner_colors = quantize(rcm_colors(corners, b))
    edges_x, edges_y, edges_z = [], [], []
    for a in range(8):
        for c in range(a + 1, 8):
            if np.count_nonzero(corners[a] != corners[c]) == 1:  # box edge: differs on one axis
                for lst, k in zip((edges_x, edges_y, edges_z), range(3)):
                    lst += [corners[a, k], corners[c, k], None]
    fig = go.Figure([
        go.Mesh3d(x=v[:, 0], y=v[:, 1], z=v[:, 2], i=f[:, 0], j=f[:, 1], k=f[:, 2],
                  vertexcolor=_rgb_strings(colors), name="mesh", hoverinfo="skip",
                  lighting=dict(ambient=1.0 - shading, diffuse=shading, specular=0.0, roughness=1.0, fresnel=0.0)),
        go.Scatter3d(x=edges_x, y=edges_y, z=edges_z, mode="lines", line=dict(color="gray", width=2),
                     name="bounding box", hoverinfo="skip"),
        go.Scatter3d(x=corners[:, 0], y=corners[:, 1], z=corners[:, 2], mode="markers",
                     marker=dict(size=6, color=_rgb_strings(corner_colors), line=dict(color="gray", width=1)),
                     text=[f"RCM {tuple(int(x) for x in c)}" for c in corner_colors], hoverinfo="text",
                     name="box corners"),
    ])
    fig.update_layout(
        title=title, width=720, height=620, margin=dict(l=0, r=0, t=40, b=0), showlegend=False,
        scene=dict(aspectmode="data", xaxis_title="x → red", yaxis_title="y → green", zaxis_title="z → blue",
                   camera=dict(up=dict(x=0, y=1, z=0), eye=dict(x=1.3, y=0.8, z=1.6))),
    )
    return fig


def save_html(fig: go.Figure, path) -> Path:
    """Write a plotly figure as one self-contained HTML file (plotly.js inlined: works offline)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(path, include_plotlyjs=True, full_html=True, div_id=path.stem)  # fixed id: same bytes every run
    return path


def save_gif(frames, path, fps: float = 8.0, scale: int = 1) -> Path:
    """Write (T, H, W, 3) uint8 frames as a looping GIF, optionally upscaled by an integer factor."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(np.asarray(f, dtype=np.uint8)) for f in frames]
    if scale != 1:
        images = [im.resize((im.width * scale, im.height * scale), Image.NEAREST) for im in images]
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(round(1000 / fps)), loop=0)
    return path


def point_cloud_axes(ax, points, colors_u8, max_points: int = 6000, seed: int = 0, size: float = 1.0):
    """Scatter object-space points on a 3D matplotlib axis in their RCM colours (subsampled).

    Object +y is drawn upwards (matplotlib's vertical axis is its third one).
    """
    points, colors_u8 = np.asarray(points), np.asarray(colors_u8)
    if len(points) > max_points:
        keep = np.random.default_rng(seed).choice(len(points), max_points, replace=False)
        points, colors_u8 = points[keep], colors_u8[keep]
    ax.scatter(points[:, 0], points[:, 2], points[:, 1], c=colors_u8 / 255.0, s=size, depthshade=False)
    ax.set_xlabel("x")
    ax.set_ylabel("z")
    ax.set_zlabel("y")
    ax.set_box_aspect(np.ptp(points[:, [0, 2, 1]], axis=0))
    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.set_major_locator(MaxNLocator(3))
    return ax


def coverage_plot(table, views, layout_styles=None, cell: float = 3.2):
    """Coverage against number of views: one panel per object, one line per layout.

    `table[object][layout]` maps a view count to coverage in [0, 1]; counts missing for a layout
    (e.g. 'icosahedron' exists only for 12/42/162 views) leave gaps, and a layout with fewer than
    two counts is drawn as markers only.
    """
    objects = list(table)
    fig, axes = plt.subplots(1, len(objects), figsize=(cell * len(objects), cell + 0.4), sharey=True, squeeze=False)
    styles = layout_styles or {}
    for ax, obj in zip(axes[0], objects):
        for layout, curve in table[obj].items():
            xs = [n for n in views if n in curve]
            ys = [100 * curve[n] for n in xs]
            style = dict(marker="o", markersize=3.5, linewidth=1.6)
            style.update(styles.get(layout, {}))
            if len(xs) < 2:
                style["linestyle"] = "none"
            ax.plot(xs, ys, label=layout, **style)
        ax.set_title(obj)
        ax.set_xscale("log")
        ax.set_xticks(list(views))
        ax.set_xticklabels([str(n) for n in views], fontsize=8)
        ax.minorticks_off()
        ax.set_xlabel("number of cached views")
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("surface area seen (%)")
    axes[0, -1].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig
