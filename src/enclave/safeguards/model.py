"""The shipped classifier: two linear heads over hashed n-gram features.

* harm head: one weight per bucket; its logit, Platt-calibrated, is the verdict's score.
* category head: K weights per bucket (of a coarser hash space), trained on harmful
  examples only; its argmax names the category.

A text's feature vector is binary and L2-normalised (value 1/sqrt(n) on each of its n
buckets), so a logit is a gather and a sum. Texts longer than one chunk are scored per
chunk and the highest chunk wins: padding a request with harmless text does not dilute it.

The artefact is one ``.npz`` (loaded with ``allow_pickle=False``: a model file is data, never
code) holding float16 weights and a JSON metadata record.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import zipfile
from dataclasses import asdict, dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from enclave.safeguards.features import FeatureSpec, Featuriser, IndexArray
from enclave.safeguards.interface import Category, SafeguardsConfigError
from enclave.safeguards.normalise import Normalised, normalise

FORMAT = "enclave-safeguards-linear/1"
Floats = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Scored:
    score: float  # calibrated, in [0, 1]
    category: Category  # the most likely harmful category, whatever the score
    normalised: Normalised


@dataclass(frozen=True, slots=True)
class ModelMeta:
    spec: FeatureSpec
    categories: tuple[Category, ...]
    category_bits: int
    # Platt scaling: score = sigmoid(slope * logit + intercept).
    slope: float
    intercept: float
    trained: dict[str, Any]

    def to_json(self) -> str:
        record = asdict(self)
        record["format"] = FORMAT
        return json.dumps(record, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, *, source: str) -> ModelMeta:
        try:
            record = json.loads(text)
            if record.pop("format") != FORMAT:
                raise ValueError(f"expected format {FORMAT}")
            spec = FeatureSpec(**record.pop("spec"))
            return cls(
                spec=spec,
                categories=tuple(Category(c) for c in record["categories"]),
                category_bits=int(record["category_bits"]),
                slope=float(record["slope"]),
                intercept=float(record["intercept"]),
                trained=dict(record["trained"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SafeguardsConfigError(f"{source}: bad model metadata ({exc})") from None


def shipped_model_path() -> Path:
    return Path(str(files("enclave.safeguards") / "data" / "model.npz"))


class LinearClassifier:
    def __init__(
        self,
        meta: ModelMeta,
        *,
        harm: Floats,
        harm_bias: float,
        category: Floats,
        category_bias: Floats,
    ) -> None:
        dim, cat_dim, k = meta.spec.dim, 1 << meta.category_bits, len(meta.categories)
        if harm.shape != (dim,) or category.shape != (cat_dim, k) or category_bias.shape != (k,):
            raise SafeguardsConfigError("model weights do not match their metadata")
        if meta.category_bits > meta.spec.bits:
            raise SafeguardsConfigError("category_bits exceeds the feature bits")
        self.meta = meta
        self.featuriser = Featuriser(meta.spec)
        # float32 at run time: float16 sums lose precision, and 1 MB more is cheap.
        self._harm = harm.astype(np.float32)
        self._harm_bias = np.float32(harm_bias)
        self._cat = category.astype(np.float32)
        self._cat_bias = category_bias.astype(np.float32)
        self._cat_shift = meta.spec.bits - meta.category_bits

    @property
    def harm_weights(self) -> Floats:
        return self._harm

    @property
    def harm_bias(self) -> float:
        return float(self._harm_bias)

    # -- scoring -------------------------------------------------------------------------

    def logit(self, idx: IndexArray) -> float:
        if idx.shape[0] == 0:
            return float(self._harm_bias)
        total = self._harm[idx].sum(dtype=np.float32)
        return float(total / math.sqrt(idx.shape[0]) + self._harm_bias)

    def calibrate(self, logit: float) -> float:
        z = self.meta.slope * logit + self.meta.intercept
        # Numerically stable logistic; the clamp keeps exp() in range.
        z = max(-60.0, min(60.0, z))
        return 1.0 / (1.0 + math.exp(-z))

    def category_of(self, idx: IndexArray) -> Category:
        if idx.shape[0] == 0:
            return self.meta.categories[int(np.argmax(self._cat_bias))]
        logits = self._cat[idx >> self._cat_shift].sum(axis=0) + self._cat_bias
        return self.meta.categories[int(np.argmax(logits))]

    def score_normalised(self, text: str) -> tuple[float, Category]:
        """Calibrated score and category of an already normalised text."""
        size = self.meta.spec.chunk_chars
        if len(text) <= size:
            idx = self.featuriser.indices(text)
            return self.calibrate(self.logit(idx)), self.category_of(idx)
        # Overlapping windows (a quarter of a window), so that no phrase is cut in every one.
        stride = size - size // 4
        best_logit, best_idx = -math.inf, self.featuriser.indices("")
        for start in range(0, len(text) - size // 4, stride):
            idx = self.featuriser.indices(text[start : start + size])
            z = self.logit(idx)
            if z > best_logit:
                best_logit, best_idx = z, idx
        return self.calibrate(best_logit), self.category_of(best_idx)

    def score(self, text: str) -> Scored:
        norm = normalise(text)
        value, category = self.score_normalised(norm.text)
        return Scored(value, category, norm)

    # -- persistence ---------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The artefact, byte-for-byte reproducible: ``np.savez`` stamps each member with
        the current time, so the archive is written here with a fixed one."""
        arrays = {
            "meta": np.frombuffer(self.meta.to_json().encode(), dtype=np.uint8),
            "harm": self._harm.astype(np.float16),
            "harm_bias": np.array([self._harm_bias], dtype=np.float32),
            "category": self._cat.astype(np.float16),
            "category_bias": self._cat_bias,
        }
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, array in arrays.items():
                member = io.BytesIO()
                np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, member.getvalue())
        return buffer.getvalue()

    def save(self, path: Path) -> str:
        """Write the artefact; returns its sha256 (recorded in the metrics file)."""
        data = self.to_bytes()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return hashlib.sha256(data).hexdigest()

    @classmethod
    def load(cls, path: Path | None = None) -> LinearClassifier:
        source = path or shipped_model_path()
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise SafeguardsConfigError(
                f"cannot read model {source}: {exc.strerror}",
                hint="train one with `enclave safeguards train`",
            ) from None
        return cls.from_bytes(data, source=str(source))

    @classmethod
    def from_bytes(cls, data: bytes, *, source: str) -> LinearClassifier:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
                meta = ModelMeta.from_json(bytes(arrays["meta"]).decode(), source=source)
                return cls(
                    meta,
                    harm=arrays["harm"],
                    harm_bias=float(arrays["harm_bias"][0]),
                    category=arrays["category"],
                    category_bias=arrays["category_bias"],
                )
        except (OSError, ValueError, KeyError, EOFError, UnicodeDecodeError) as exc:
            # np.load raises ValueError, OSError or EOFError on a file that is not an npz.
            raise SafeguardsConfigError(f"{source}: not a safeguards model ({exc})") from None
        except zipfile.BadZipFile as exc:
            raise SafeguardsConfigError(f"{source}: damaged model archive ({exc})") from None


__all__ = ["FORMAT", "LinearClassifier", "ModelMeta", "Scored", "shipped_model_path"]
