# mypy: ignore-errors
# (runs inside the corpus venv with numpy/torch/...; the project env that type-checks has none)
"""Pickle-family corpus (#11): files written by torch, joblib, scikit-learn, numpy, pandas,
xgboost, lightgbm, pickle, dill and cloudpickle, as real users write them. Tiny models only.

Run inside the corpus venv: ``python gen_pickle_family.py OUT_DIR``.
"""

from __future__ import annotations

import collections
import datetime
import decimal
import os
import pickle

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from _common import main_out, version

rec = main_out("pickle")
rng = np.random.default_rng(0)
X = rng.normal(size=(60, 4))
y = (X[:, 0] + X[:, 1] > 0).astype(int)

PLAIN = {
    "int": 1,
    "big": 2**70,
    "neg": -5,
    "float": 1.5,
    "complex": 1 + 2j,
    "str": "héllo",
    "bytes": b"\x00\x01",
    "bytearray": bytearray(b"ab"),
    "list": [1, 2, [3, None]],
    "tuple": (1, "a", (True, False)),
    "set": {1, 2},
    "frozenset": frozenset({"x"}),
    "none": None,
    "nested": {"a": {"b": [1.0, float("inf")]}},
}
STDLIB = {
    "date": datetime.date(2024, 1, 2),
    "datetime": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
    "timedelta": datetime.timedelta(days=1),
    "decimal": decimal.Decimal("1.25"),
    "ordered": collections.OrderedDict(a=1),
    "counter": collections.Counter("aab"),
    "defaultdict": collections.defaultdict(list, {"k": [1]}),
}


def plain_pickles() -> None:
    for proto in range(6):
        rec.path(f"python/plain_p{proto}.pkl").write_bytes(pickle.dumps(PLAIN, protocol=proto))
        rec.add(f"python/plain_p{proto}.pkl", version("python"), f"pickle protocol {proto}")
    for proto in (0, 2, 4, 5):
        rec.path(f"python/stdlib_p{proto}.pkl").write_bytes(pickle.dumps(STDLIB, protocol=proto))
        rec.add(f"python/stdlib_p{proto}.pkl", version("python"), f"pickle protocol {proto}")


def dill_cloudpickle() -> None:
    import cloudpickle
    import dill

    rec.path("dill/plain.pkl").write_bytes(dill.dumps(PLAIN))
    rec.add("dill/plain.pkl", version("dill"), "dill")
    rec.path("dill/plain_p2.dill").write_bytes(dill.dumps(PLAIN, protocol=2))
    rec.add("dill/plain_p2.dill", version("dill"), "dill")
    rec.path("cloudpickle/plain.pkl").write_bytes(cloudpickle.dumps(PLAIN))
    rec.add("cloudpickle/plain.pkl", version("cloudpickle"), "cloudpickle")
    rec.path("cloudpickle/array.pkl").write_bytes(cloudpickle.dumps({"w": np.ones(3)}))
    rec.add("cloudpickle/array.pkl", [version("cloudpickle"), version("numpy")], "cloudpickle")
    # Lambdas pickled by value, as a script writes them (this file runs as __main__): judged
    # for the interpreter that scans them, the one that wrote them here.
    for name, data in (
        ("cloudpickle/lambdas.pkl", cloudpickle.dumps(lambdas())),
        # dill's plain mode leaves globals to the loader's __main__: no global-reading lambda
        ("dill/lambdas.pkl", dill.dumps({k: f for k, f in lambdas().items() if k != "shift"})),
        ("dill/lambdas_recurse.pkl", dill.dumps(lambdas(), recurse=True)),
    ):
        rec.path(name).write_bytes(data)
        rec.add(name, version(name.split("/")[0]), f"{name.split('/')[0]} lambdas by value")
    from sklearn.preprocessing import FunctionTransformer

    scaler = FunctionTransformer(func=lambda x: x * 2.0 - 1.0, inverse_func=lambda y: (y + 1) / 2)
    rec.path("cloudpickle/function_transformer.pkl").write_bytes(cloudpickle.dumps(scaler))
    rec.add(
        "cloudpickle/function_transformer.pkl",
        [version("cloudpickle"), version("scikit-learn")],
        "cloudpickle sklearn FunctionTransformer with lambdas",
    )


#: A module constant a lambda reads (pickled by value with it, as a global).
SHIFT = 0.5


def lambdas() -> dict[str, object]:
    """Everyday arithmetic callables: plain, conditional, boolean, defaults, closures and
    module constants."""

    def clip(lo: float, hi: float) -> object:
        return lambda x: lo if x < lo else hi if x > hi else x

    def scale(k: float) -> object:
        return lambda x: x * k

    return {
        "affine": lambda x: x * 2 + 1,
        "squared_error": lambda x, y: (x - y) ** 2,
        "relu": lambda x: x if x > 0 else 0,
        "in_unit": lambda x: 0 <= x <= 1,
        "first_or_default": lambda x, default=0.0: x[0] if x else default,
        "clip": clip(0.0, 1.0),
        "scale": scale(0.5),
        "shift": lambda x: x - SHIFT,
    }


def torch_files() -> None:
    import torch
    from torch import nn

    torch.manual_seed(0)
    tv = version("torch")
    model = nn.Sequential(
        nn.Conv1d(2, 3, 3),
        nn.BatchNorm1d(3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(9, 4),
        nn.Dropout(0.1),
        nn.LayerNorm(4),
        nn.Linear(4, 2),
    )
    model(torch.randn(2, 2, 5))
    sd = model.state_dict()
    torch.save(sd, rec.path("torch/state_dict.pt"))
    rec.add("torch/state_dict.pt", tv, "pytorch zip")
    torch.save(sd, rec.path("torch/state_dict.bin"))
    rec.add("torch/state_dict.bin", tv, "pytorch zip")
    torch.save(sd, rec.path("torch/state_dict_p4.pt"), pickle_protocol=4)
    rec.add("torch/state_dict_p4.pt", tv, "pytorch zip (pickle protocol 4)")
    torch.save(sd, rec.path("torch/state_dict_legacy.pt"), _use_new_zipfile_serialization=False)
    rec.add("torch/state_dict_legacy.pt", tv, "pytorch legacy")
    torch.save(model, rec.path("torch/full_module.pt"))
    rec.add("torch/full_module.pt", tv, "pytorch zip (full module)")
    torch.save(model, rec.path("torch/full_module_legacy.pt"), _use_new_zipfile_serialization=False)
    rec.add("torch/full_module_legacy.pt", tv, "pytorch legacy (full module)")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.StepLR(opt, 1)
    model(torch.randn(2, 2, 5)).sum().backward()
    opt.step()
    sched.step()
    ckpt = {
        "epoch": 3,
        "model_state_dict": model.state_dict(),
        "optimizer_state_dict": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "loss": 0.25,
        "rng_state": torch.get_rng_state(),
        "args": {"lr": 1e-3, "layers": [2, 3]},
    }
    torch.save(ckpt, rec.path("torch/checkpoint.pth"))
    rec.add("torch/checkpoint.pth", tv, "pytorch zip (training checkpoint)")
    torch.save(ckpt, rec.path("torch/checkpoint_legacy.pth"), _use_new_zipfile_serialization=False)
    rec.add("torch/checkpoint_legacy.pth", tv, "pytorch legacy (training checkpoint)")
    dtypes = {
        str(dt): torch.zeros(2, dtype=dt)
        for dt in (
            torch.float16,
            torch.bfloat16,
            torch.float64,
            torch.int8,
            torch.uint8,
            torch.int64,
            torch.bool,
            torch.complex64,
        )
    }
    dtypes["param"] = nn.Parameter(torch.ones(2))
    dtypes["view"] = torch.arange(10.0)[2:5]
    dtypes["sparse"] = torch.eye(3).to_sparse()
    torch.save(dtypes, rec.path("torch/dtypes.pt"))
    rec.add("torch/dtypes.pt", tv, "pytorch zip (dtypes)")
    q = torch.ao.quantization.quantize_dynamic(
        nn.Sequential(nn.Linear(4, 4)), {nn.Linear}, dtype=torch.qint8
    )
    torch.save(q.state_dict(), rec.path("torch/quantized_state_dict.pt"))
    rec.add("torch/quantized_state_dict.pt", tv, "pytorch zip (quantized)")
    torch.save(torch.randn(3, 3), rec.path("torch/tensor.pt"))
    rec.add("torch/tensor.pt", tv, "pytorch zip (tensor)")


def torchscript_files() -> None:
    import torch
    from torch import nn

    tv = version("torch")
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).eval()
    torch.jit.script(model).save(str(rec.path("torchscript/scripted.pt")))
    rec.add("torchscript/scripted.pt", tv, "torchscript (script)")
    traced = torch.jit.trace(model, torch.randn(1, 4))
    traced.save(str(rec.path("torchscript/traced.pt")))
    rec.add("torchscript/traced.pt", tv, "torchscript (trace)")
    rnn = torch.jit.script(nn.GRU(3, 4, batch_first=True))
    rnn.save(str(rec.path("torchscript/gru.pt")))
    rec.add("torchscript/gru.pt", tv, "torchscript (script)")


def torch_export_files() -> None:
    import torch
    from torch import nn

    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU()).eval()
    ep = torch.export.export(model, (torch.randn(1, 4),))
    torch.export.save(ep, str(rec.path("torch/exported.pt2")))
    rec.add("torch/exported.pt2", version("torch"), "torch.export pt2")


def sklearn_models() -> dict[str, object]:
    import pandas as pd
    from sklearn.cluster import KMeans
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    models: dict[str, object] = {}
    models["scaler_logreg"] = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    models["random_forest"] = RandomForestClassifier(
        n_estimators=3, max_depth=3, random_state=0
    ).fit(X, y)
    models["gradient_boosting"] = GradientBoostingClassifier(n_estimators=3, random_state=0).fit(
        X, y
    )
    models["kmeans"] = KMeans(n_clusters=2, n_init=2, random_state=0).fit(X)
    df = pd.DataFrame({"num": X[:, 0], "cat": np.where(y > 0, "a", "b")})
    ct = ColumnTransformer(
        [
            ("num", StandardScaler(), ["num"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["cat"]),
        ]
    )
    models["column_transformer"] = Pipeline([("ct", ct), ("clf", LogisticRegression())]).fit(df, y)
    models["function_transformer"] = Pipeline(
        [("log", FunctionTransformer(np.log1p)), ("clf", LogisticRegression())]
    ).fit(np.abs(X), y)
    models["tfidf"] = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(
        ["good model", "bad model", "good data", "bad data"], [1, 0, 1, 0]
    )
    return models


def sklearn_files() -> None:
    import joblib

    prod = [version("scikit-learn"), version("numpy")]
    for name, m in sklearn_models().items():
        rec.path(f"sklearn/{name}.pkl").write_bytes(pickle.dumps(m, protocol=5))
        rec.add(f"sklearn/{name}.pkl", prod, "sklearn pickle")
        joblib.dump(m, rec.path(f"sklearn/{name}.joblib"))
        rec.add(f"sklearn/{name}.joblib", [*prod, version("joblib")], "sklearn joblib")


def joblib_files() -> None:
    import joblib

    m = sklearn_models()["scaler_logreg"]
    data = {"weights": np.arange(1000, dtype=np.float64), "names": ["a", "b"], "model": m}
    comps: list[tuple[str, object]] = [
        ("none", 0),
        ("zlib", ("zlib", 3)),
        ("gzip", ("gzip", 3)),
        ("bz2", ("bz2", 3)),
        ("lzma", ("lzma", 3)),
        ("xz", ("xz", 3)),
    ]
    try:
        import lz4  # noqa: F401

        comps.append(("lz4", ("lz4", 3)))
    except ImportError:
        pass
    prod = [version("joblib"), version("scikit-learn")]
    for name, comp in comps:
        rel = f"joblib/dump_{name}.joblib"
        joblib.dump(data, rec.path(rel), compress=comp)
        rec.add(rel, prod, f"joblib compress={name}")
    joblib.dump(data, rec.path("joblib/dump_ext.pkl.gz"))  # compressor inferred from extension
    rec.add("joblib/dump_ext.pkl.gz", prod, "joblib gzip by extension")
    joblib.dump(np.arange(10), rec.path("joblib/array_protocol2.pkl"), protocol=2)
    rec.add("joblib/array_protocol2.pkl", prod, "joblib protocol 2")


def numpy_files() -> None:
    nv = version("numpy")
    np.save(rec.path("numpy/float.npy"), rng.normal(size=(3, 4)))
    rec.add("numpy/float.npy", nv, "npy")
    np.save(rec.path("numpy/fortran.npy"), np.asfortranarray(np.ones((3, 2), dtype=np.int16)))
    rec.add("numpy/fortran.npy", nv, "npy")
    structured = np.zeros(3, dtype=[("x", "<f4"), ("name", "U5"), ("v", "<i8", (2,))])
    np.save(rec.path("numpy/structured.npy"), structured)
    rec.add("numpy/structured.npy", nv, "npy")
    obj = np.array([{"a": 1}, "text", 3.5, None, [1, 2]], dtype=object)
    np.save(rec.path("numpy/object.npy"), obj, allow_pickle=True)
    rec.add("numpy/object.npy", nv, "npy object (pickle)")
    np.save(rec.path("numpy/object_arrays.npy"), np.array([np.ones(2), np.zeros(3)], dtype=object))
    rec.add("numpy/object_arrays.npy", nv, "npy object (pickle)")
    np.savez(rec.path("numpy/arrays.npz"), a=np.ones(3), b=np.arange(4))
    rec.add("numpy/arrays.npz", nv, "npz")
    np.savez_compressed(rec.path("numpy/compressed.npz"), a=np.ones(30), obj=obj)
    rec.add("numpy/compressed.npz", nv, "npz compressed with object array")
    np.savez(rec.path("numpy/with_object.npz"), obj=obj, s=np.array("scalar"))
    rec.add("numpy/with_object.npz", nv, "npz with object array")
    for proto in range(6):
        rel = f"numpy/ndarray_p{proto}.pkl"
        rec.path(rel).write_bytes(pickle.dumps(np.arange(6.0).reshape(2, 3), protocol=proto))
        rec.add(rel, nv, f"pickle of ndarray protocol {proto}")
    rec.path("numpy/array_pickle.pkl").write_bytes(pickle.dumps(rng.normal(size=4), protocol=2))
    rec.add("numpy/array_pickle.pkl", nv, "pickle of ndarray protocol 2")
    rec.path("numpy/array_pickle_p5.pkl").write_bytes(
        pickle.dumps(
            {"a": np.ones(3, dtype=np.float32), "s": np.float64(2.0), "dt": np.dtype("i4")},
            protocol=5,
        )
    )
    rec.add("numpy/array_pickle_p5.pkl", nv, "pickle of ndarray/scalars protocol 5")


def pandas_files() -> None:
    import pandas as pd

    pv = [version("pandas"), version("numpy")]
    df = pd.DataFrame(
        {
            "i": [1, 2, 3],
            "f": [0.5, None, 2.0],
            "s": ["a", "b", None],
            "cat": pd.Categorical(["x", "y", "x"]),
            "ts": pd.date_range("2024-01-01", periods=3, tz="UTC"),
            "td": pd.to_timedelta([1, 2, 3], unit="s"),
            "b": [True, False, True],
        },
        index=pd.Index(["r1", "r2", "r3"], name="row"),
    )
    for ext in ("pkl", "pkl.gz", "pkl.bz2", "pkl.xz"):
        df.to_pickle(rec.path(f"pandas/frame.{ext}"))
        rec.add(f"pandas/frame.{ext}", pv, f"pandas to_pickle .{ext}")
    df.to_pickle(rec.path("pandas/frame_p2.pkl"), protocol=2)
    rec.add("pandas/frame_p2.pkl", pv, "pandas to_pickle protocol 2")
    s = pd.Series([1.0, 2.0], index=pd.MultiIndex.from_tuples([("a", 1), ("b", 2)]))
    s.to_pickle(rec.path("pandas/series_multiindex.pkl"))
    rec.add("pandas/series_multiindex.pkl", pv, "pandas to_pickle")


def xgboost_files() -> None:
    import xgboost as xgb

    xv = version("xgboost-cpu")
    clf = xgb.XGBClassifier(n_estimators=3, max_depth=2).fit(X, y)
    booster = clf.get_booster()
    booster.save_model(rec.path("xgboost/model.json"))
    rec.add("xgboost/model.json", xv, "xgboost json")
    booster.save_model(rec.path("xgboost/model.ubj"))
    rec.add("xgboost/model.ubj", xv, "xgboost ubjson")
    rec.path("xgboost/booster.pkl").write_bytes(pickle.dumps(booster))
    rec.add("xgboost/booster.pkl", xv, "xgboost pickled Booster")
    rec.path("xgboost/classifier.pkl").write_bytes(pickle.dumps(clf))
    rec.add(
        "xgboost/classifier.pkl", [xv, version("scikit-learn")], "xgboost pickled XGBClassifier"
    )


def lightgbm_files() -> None:
    import joblib
    import lightgbm as lgb

    lv = version("lightgbm")
    clf = lgb.LGBMClassifier(n_estimators=3, num_leaves=4, min_child_samples=5, verbose=-1).fit(
        X, y
    )
    clf.booster_.save_model(str(rec.path("lightgbm/model.txt")))
    rec.add("lightgbm/model.txt", lv, "lightgbm text")
    rec.path("lightgbm/booster.pkl").write_bytes(pickle.dumps(clf.booster_))
    rec.add("lightgbm/booster.pkl", lv, "lightgbm pickled Booster")
    joblib.dump(clf, rec.path("lightgbm/classifier.joblib"))
    rec.add("lightgbm/classifier.joblib", [lv, version("joblib")], "lightgbm joblib LGBMClassifier")


for step in (
    plain_pickles,
    dill_cloudpickle,
    torch_files,
    torchscript_files,
    torch_export_files,
    sklearn_files,
    joblib_files,
    numpy_files,
    pandas_files,
    xgboost_files,
    lightgbm_files,
):
    rec.step(step.__name__, step)
raise SystemExit(rec.finish())
