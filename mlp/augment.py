"""Training-image augmentation: each function takes a batch of flat (side*side) images and a generator, and
returns a new batch of the same shape and dtype with the labels' meaning kept. Only the training loop calls them,
on training batches: validation and test images are never augmented."""
import functools

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

SIDE = 28
ELASTIC_SIGMA = 4.0  # pixels: the smoothness of an elastic field, as in Simard et al. (2003)


def shift_images(X, max_shift, rng, side=SIDE):
    """Move each image by up to ``max_shift`` pixels each way, filling with 0.

    Each image's window is picked out of a view of every window of its padded
    copy: one gather, several times faster than indexing rows and columns.
    """
    b = X.shape[0]
    dy, dx = rng.integers(0, 2 * max_shift + 1, size=(2, b))
    padded = np.zeros((b, side + 2 * max_shift, side + 2 * max_shift), X.dtype)
    padded[:, max_shift:max_shift + side, max_shift:max_shift + side] = X.reshape(b, side, side)
    windows = sliding_window_view(padded, (side, side), axis=(1, 2))  # (b, 2s+1, 2s+1, side, side)
    return windows[np.arange(b), dy, dx].reshape(b, side * side)


def flip_images(X, rng, side=SIDE):
    """Mirror each image left-right with probability 1/2."""
    b = X.shape[0]
    images = X.reshape(b, side, side).copy()
    flipped = rng.random(b) < 0.5
    images[flipped] = images[flipped, :, ::-1]
    return images.reshape(b, side * side)


@functools.lru_cache(maxsize=4)
def _blur_matrix(side, sigma):
    """B with B @ F @ B.T = F smoothed by a Gaussian of ``sigma`` pixels (edges renormalised)."""
    offsets = np.arange(side)[:, None] - np.arange(side)[None, :]
    weights = np.exp(-0.5 * (offsets / sigma) ** 2)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def warp_images(X, rng, rotate=0.0, elastic=0.0, side=SIDE):
    """Rotate each image by up to ``rotate`` degrees either way about its centre, and move its pixels along a
    smooth random field whose root-mean-square displacement is ``elastic`` pixels (Simard's elastic distortion);
    pixels are read back by bilinear interpolation, 0 outside the image. Coordinates are float32 whatever the
    images' dtype: a hundredth of a pixel is plenty, and it halves the cost."""
    b = X.shape[0]
    centre = (side - 1) / 2
    axis = np.arange(side, dtype=np.float32) - centre
    angle = np.deg2rad(rng.uniform(-rotate, rotate, size=(b, 1, 1))).astype(np.float32)
    cos, sin = np.cos(angle), np.sin(angle)
    src_rows = cos * axis[:, None] - sin * axis[None, :] + centre  # where each output pixel is read from
    src_cols = sin * axis[:, None] + cos * axis[None, :] + centre
    if elastic:
        blur = _blur_matrix(side, ELASTIC_SIGMA)
        field = blur @ (rng.random(size=(2, b, side, side), dtype=np.float32) - 0.5) @ blur.T
        field *= elastic / np.sqrt(np.mean(field ** 2, axis=(0, 2, 3), keepdims=True))
        src_rows, src_cols = src_rows + field[0], src_cols + field[1]
    return _bilinear(X.reshape(b, side, side), src_rows, src_cols).reshape(b, side * side)


def _bilinear(images, rows, cols):
    """``images`` (b, s, s) read at fractional (rows, cols) of the same shape; 0 beyond the edges."""
    b, side, _ = images.shape
    width = side + 2
    padded = np.zeros((b, width, width), images.dtype)  # a border of zeros: every read lands somewhere
    padded[:, 1:-1, 1:-1] = images
    rows, cols = np.clip(rows + 1, 0, side), np.clip(cols + 1, 0, side)  # into the padded frame
    top, left = rows.astype(np.intp), cols.astype(np.intp)  # both >= 0: truncation is the floor
    down, right = (rows - top).astype(images.dtype), (cols - left).astype(images.dtype)
    at = top * width + left + (np.arange(b) * width * width)[:, None, None]
    flat = padded.ravel()
    upper = flat[at] * (1 - right) + flat[at + 1] * right
    lower = flat[at + width] * (1 - right) + flat[at + width + 1] * right
    return upper * (1 - down) + lower * down
