"""A trained model as an ONNX graph, for runtimes that have no Python (ONNX Runtime in Java,
C#, JavaScript, on a phone or in a database).

``to_onnx(model, X)`` converts every step the model predicts with (skl2onnx for scikit-learn,
onnxmltools for LightGBM and XGBoost, converters written here for the engine's own steps),
joins an ensemble's members into one graph, then runs the graph on ``X`` with ONNX Runtime
and compares its answers with the model's own. Where a step has no ONNX form it says which,
in plain words, rather than exporting something that answers differently.

The graph takes one input per model column, its values already read as the column's kind
(what ``Model.validate`` returns, which ``onnx_inputs`` turns into the graph's feed): numbers
and yes/no columns as floats (1 and 0, NaN when missing), categories as strings ("" when
missing), dates as float64 seconds since 1970-01-01 of their time as written, with no time
zone (NaN when missing). It answers ``label`` (the class, as text) and ``probabilities`` (one
column per class, in the order of the model's classes) for a classifier, ``prediction`` for a
regression. The ONNX packages are imported only here, when a model is exported.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import FunctionTransformer, Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler, TargetEncoder

from automl.ensemble import Blend
from automl.features import DateParts
from automl.learners import LogTarget, fitted_layers
from automl.wording import quoted

# Opsets every member is converted to, so that their graphs join: ONNX Runtime 1.16 and later
# run them.
OPSETS = {"": 19, "ai.onnx.ml": 3}
# Trees compare in float32 in ONNX: a probability may move by this much where a value sits
# next to a split; more than that is a converter that answers differently.
TOLERANCE = 1e-3
SECONDS_PER_DAY = 86400
# The steps of ``make_preprocessor`` that have an ONNX form; and the others, as a person would
# call them.
CONVERTED_STEPS = (SimpleImputer, OneHotEncoder, OrdinalEncoder, StandardScaler, TargetEncoder,
                   DateParts)  # fmt: skip
STEP_NAMES = {FunctionTransformer: "reading text into terms (TF-IDF)"}
# The models a converter knows: scikit-learn's (skl2onnx), LightGBM's and XGBoost's
# (onnxmltools).
CONVERTED_MODELS = {
    "LogisticRegression", "Ridge", "HistGradientBoostingClassifier",
    "HistGradientBoostingRegressor", "RandomForestClassifier", "RandomForestRegressor",
    "ExtraTreesClassifier", "ExtraTreesRegressor", "LGBMClassifier", "LGBMRegressor",
    "XGBClassifier", "XGBRegressor",
}  # fmt: skip
LIBRARIES = ("sklearn", "lightgbm", "xgboost")


@dataclass
class Export:
    """An export's outcome: the graph, or why there is none.

    ``onnx``: the serialised ONNX model, or None. ``difference``: the largest absolute
    difference between its answers (probabilities, or values) and the model's on the rows it
    was checked on. ``blocked_by``: what prevents the export, in plain words.
    """

    onnx: bytes | None = field(repr=False)
    difference: float | None = None
    blocked_by: str | None = None
    rows: int = 0


def to_onnx(model, X: pd.DataFrame) -> Export:
    """``model`` (an ``automl.Model``) as ONNX, checked against its own answers on ``X``
    (values it cannot read count as missing, as when it predicts them)."""
    blocked = blocking_step(model)
    if blocked:
        return Export(None, blocked_by=blocked)
    X = X.mask(model.invalid_cells(X)) if len(X) else X
    try:
        graph = _joined(model)
        session = _session(graph)
        names = [output.name for output in session.get_outputs()]
        answers = dict(zip(names, session.run(None, onnx_inputs(model, model.validate(X))),
                           strict=True))  # fmt: skip
    except Exception as error:
        # A converter's or the runtime's own limits, which the steps above do not know of:
        # the model stands without an export.
        first_line = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        words = f"the ONNX converters could not convert this model ({type(error).__name__}"
        return Export(None, blocked_by=f"{words}: {first_line})" if first_line else f"{words})")
    if model.is_classifier:
        expected, found, scale = model.predict_proba(X), answers["probabilities"], 1.0
    else:
        expected, found = model.predict(X), answers["prediction"]
        scale = max(1.0, float(np.nanmax(np.abs(expected))))
    difference = float(np.max(np.abs(np.asarray(found, dtype=float) - expected)))
    if not difference <= TOLERANCE * scale:
        words = f"its answers differ from the model's by up to {difference:.3g}"
        return Export(None, difference, f"the converted graph does not match: {words}", len(X))
    return Export(graph.SerializeToString(), difference, None, len(X))


def blocking_step(model) -> str | None:
    """What keeps ``model`` from ONNX, in plain words, or None when every step converts."""
    for pipeline in model.pipelines:
        for _, transformer, columns in pipeline.named_steps["features"][-1].transformers_:
            if transformer == "drop" or not columns:
                continue
            steps = transformer.steps if isinstance(transformer, Pipeline) else [(0, transformer)]
            for _, step in steps:
                if isinstance(step, TargetEncoder) and step.target_type_ == "multiclass":
                    return (
                        f"encoding the many categories of {quoted(columns[0])} by each "
                        "class's rate has no ONNX form for more than two classes"
                    )
                if not isinstance(step, CONVERTED_STEPS):
                    what = STEP_NAMES.get(type(step), type(step).__name__)
                    return f"{what}, for the column {quoted(columns[0])}, has no ONNX form"
        estimator = pipeline.named_steps["model"]
        plain = _plain_estimator(estimator)
        if plain is None:
            return f"the model ({type(fitted_layers(estimator)[-1]).__name__}) has no ONNX form"
        if np.any(getattr(plain[0], "is_categorical_", None)):
            # skl2onnx writes thresholds, not the category sets these splits test.
            return (
                "scikit-learn's gradient boosting splitting on categories itself has no ONNX form"
            )
    return None


def onnx_inputs(model, typed: pd.DataFrame) -> dict[str, np.ndarray]:
    """The graph's feed for rows already read as their kinds (``Model.validate``)."""
    feed = {}
    for column in model.schema:
        values = typed[column["name"]]
        kind = column["kind"]
        if kind == "datetime":
            seconds = _epoch_seconds(values)
            feed[column["name"]] = seconds.reshape(-1, 1)
        elif kind in ("categorical", "many_categories", "text"):
            text = values.astype(object).where(values.notna(), "")
            feed[column["name"]] = np.array([str(v) for v in text], dtype=object).reshape(-1, 1)
        else:
            feed[column["name"]] = values.astype("float64").to_numpy(np.float32).reshape(-1, 1)
    return feed


def _epoch_seconds(values: pd.Series) -> np.ndarray:
    # The wall-clock time as written, as the model reads its calendar parts: no conversion.
    stamps = pd.to_datetime(values)
    if stamps.dt.tz is not None:
        stamps = stamps.dt.tz_localize(None)
    nanoseconds = stamps.astype("datetime64[ns]").to_numpy().astype("int64").astype(float)
    return np.where(stamps.isna().to_numpy(), np.nan, nanoseconds / 1e9)


def _plain_estimator(estimator) -> tuple[BaseEstimator, tuple | None] | None:
    """The library model a converter knows, with a log-scale target's limits; None when there
    is no converter for it. The engine's timed estimators are scikit-learn's own with another
    ``fit``: fitted, they are the same model, so a copy of their library class converts."""
    layers = fitted_layers(estimator)
    limits = layers[0].limits_ if isinstance(layers[0], LogTarget) else None
    core = layers[-1]
    for kind in type(core).__mro__:
        if kind.__name__ in CONVERTED_MODELS and kind.__module__.split(".")[0] in LIBRARIES:
            plain = copy.copy(core)
            plain.__class__ = kind
            if kind.__name__.startswith("XGB"):
                plain = _best_rounds(plain)
            return plain, limits
    return None


def _best_rounds(model):
    """An early-stopped XGBoost model cut to the rounds it predicts with: its converter
    writes out every tree grown, those past the best round too."""
    best = getattr(model, "best_iteration", None)
    booster = model.get_booster()
    if best is None or best + 1 >= booster.num_boosted_rounds():
        return model
    model = copy.copy(model)
    model._Booster = booster[: best + 1]
    return model


def _session(graph):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(
        graph.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def _input_types(model) -> list[tuple[str, object]]:
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType

    types = {"datetime": DoubleTensorType, "categorical": StringTensorType,
             "many_categories": StringTensorType, "text": StringTensorType}  # fmt: skip
    return [(c["name"], types.get(c["kind"], FloatTensorType)([None, 1])) for c in model.schema]


def _joined(model):
    """One graph for the whole model: each member converted, then the blend's weighted
    average (a single model is a blend of one), classes and the log scale's way back."""
    from onnx import TensorProto, compose, helper, numpy_helper

    _register_converters()
    inputs = _input_types(model)
    if isinstance(model.pipeline, Blend):
        members = list(zip(model.pipeline.pipelines, model.pipeline.weights, strict=True))
    else:
        members = [(model.pipeline, 1.0)]
    nodes, initializers, opsets = [], [], {}
    for i, (pipeline, weight) in enumerate(members):
        graph = compose.add_prefix(_member(pipeline, inputs, model.is_classifier), f"m{i}_",
                                   rename_inputs=False)  # fmt: skip
        nodes.extend(graph.graph.node)
        initializers.extend(graph.graph.initializer)
        for opset in graph.opset_import:
            opsets[opset.domain] = max(opsets.get(opset.domain, 0), opset.version)
        if model.is_classifier:
            # Probabilities of the classes the member saw, spread over all of the model's,
            # times its weight.
            seen = np.asarray(fitted_layers(pipeline.named_steps["model"])[0].classes_)
            spread = np.zeros((len(seen), len(model.classes_)), dtype=np.float32)
            spread[np.arange(len(seen)), seen] = weight
            initializers.append(numpy_helper.from_array(spread, f"m{i}_spread"))
            nodes.append(helper.make_node("MatMul", [f"m{i}_probabilities", f"m{i}_spread"],
                                          [f"m{i}_share"]))  # fmt: skip
        else:
            value = f"m{i}_variable"
            limits = _plain_estimator(pipeline.named_steps["model"])[1]
            if limits is not None:
                low, high = (numpy_helper.from_array(np.float32(v), f"m{i}_{n}")
                             for v, n in zip(limits, ("low", "high"), strict=True))  # fmt: skip
                initializers.extend(
                    [low, high, numpy_helper.from_array(np.float32(1), f"m{i}_one")]
                )
                nodes.extend([
                    helper.make_node("Clip", [value, low.name, high.name], [f"m{i}_clipped"]),
                    helper.make_node("Exp", [f"m{i}_clipped"], [f"m{i}_exp"]),
                    helper.make_node("Sub", [f"m{i}_exp", f"m{i}_one"], [f"m{i}_units"]),
                ])  # fmt: skip
                value = f"m{i}_units"
            initializers.append(numpy_helper.from_array(np.float32(weight), f"m{i}_weight"))
            nodes.append(helper.make_node("Mul", [value, f"m{i}_weight"], [f"m{i}_share"]))
    shares = [f"m{i}_share" for i in range(len(members))]
    if model.is_classifier:
        labels = np.array([str(c) for c in model.classes_], dtype=object)
        initializers.append(numpy_helper.from_array(labels, "classes"))
        nodes.extend([
            helper.make_node("Sum", shares, ["probabilities"]),
            helper.make_node("ArgMax", ["probabilities"], ["best"], axis=1, keepdims=0),
            helper.make_node("Gather", ["classes", "best"], ["label"]),
        ])  # fmt: skip
        n = len(model.classes_)
        outputs = [
            helper.make_tensor_value_info("label", TensorProto.STRING, [None]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, n]),
        ]
    else:
        initializers.append(numpy_helper.from_array(np.array([-1], dtype=np.int64), "flat"))
        nodes.extend(
            [
                helper.make_node("Sum", shares, ["values"]),
                helper.make_node("Reshape", ["values", "flat"], ["prediction"]),
            ]
        )
        outputs = [helper.make_tensor_value_info("prediction", TensorProto.FLOAT, [None])]
    graph = helper.make_graph(
        nodes, "automl_model", [_value_info(name, kind) for name, kind in inputs], outputs,
        initializers,
    )  # fmt: skip
    onnx_model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()]
    )
    onnx_model.ir_version = min(onnx_model.ir_version, 9)
    classes = model.classes_ if model.is_classifier else []
    helper.set_model_props(onnx_model, {"task": model.task, "target": model.target,
                                        "classes": ",".join(str(c) for c in classes)})  # fmt: skip
    return onnx_model


def _value_info(name, kind):
    from onnx import TensorProto, helper

    element = {"DoubleTensorType": TensorProto.DOUBLE, "StringTensorType": TensorProto.STRING}
    return helper.make_tensor_value_info(
        name, element.get(type(kind).__name__, TensorProto.FLOAT), [None, 1]
    )


def _member(pipeline, inputs, classifier: bool):
    from skl2onnx import convert_sklearn

    estimator, _ = _plain_estimator(pipeline.named_steps["model"])
    plain = Pipeline([("columns", _convertible_blocks(pipeline)), ("model", estimator)])
    options = {id(estimator): {"zipmap": False}} if classifier else None
    return convert_sklearn(plain, initial_types=inputs, options=options, target_opset=OPSETS)


def _convertible_blocks(pipeline) -> ColumnTransformer:
    """A copy of the pipeline's column blocks as the converters take them: imputers of text
    values take "" for a missing value (an ONNX string tensor has no NaN; the feed writes ""
    there), and imputers of numbers convert with their missing-value indicators."""
    columns = copy.deepcopy(pipeline.named_steps["features"][-1])
    for _, transformer, _ in columns.transformers_:
        for _, step in getattr(transformer, "steps", []):
            if isinstance(step, SimpleImputer) and step.statistics_.dtype == object:
                step.__class__ = _TextImputer
            elif isinstance(step, SimpleImputer):
                step.__class__ = _NumbersImputer
            elif isinstance(step, OneHotEncoder):
                step.__class__ = _OneHot
    return columns


class _TextImputer(SimpleImputer):
    """A fitted ``SimpleImputer`` of text, for its converter here: "" (the feed's missing
    value) becomes the fill value. skl2onnx's own, joined into an ensemble's graph twice,
    meets an ONNX Runtime optimisation that feeds the second copy the wrong values."""


def _convert_text_imputer(scope, operator, container) -> None:
    from onnx import TensorProto

    imputer = operator.raw_operator
    name = scope.get_unique_variable_name
    empty, fill, missing = name("empty"), name("fill"), name("missing")
    container.add_initializer(empty, TensorProto.STRING, [], [b""])
    container.add_initializer(fill, TensorProto.STRING, [],
                              [str(imputer.statistics_[0]).encode()])  # fmt: skip
    sources = [variable.full_name for variable in operator.inputs]
    source = sources[0]
    if len(sources) > 1:
        source = name("joined")
        container.add_node("Concat", sources, [source], axis=1,
                           name=scope.get_unique_operator_name("Concat"))  # fmt: skip
    container.add_node("Equal", [source, empty], [missing],
                       name=scope.get_unique_operator_name("Equal"))  # fmt: skip
    container.add_node("Where", [missing, fill, source], [operator.outputs[0].full_name],
                       name=scope.get_unique_operator_name("Where"))  # fmt: skip


def _text_imputer_shape(operator) -> None:
    from skl2onnx.common.data_types import StringTensorType

    operator.outputs[0].type = StringTensorType([None, len(operator.raw_operator.statistics_)])


class _OneHot(OneHotEncoder):
    """A fitted ``OneHotEncoder`` of text, for its converter here: an unseen category goes to
    the rare categories' column, or nowhere, as scikit-learn's ``infrequent_if_exist`` does;
    skl2onnx's stops the graph with an error on one."""


def _convert_one_hot(scope, operator, container) -> None:
    from onnx import TensorProto

    encoder = operator.raw_operator
    name = scope.get_unique_variable_name

    def op(kind: str, inputs: list[str], **attributes) -> str:
        output = name(kind.lower())
        container.add_node(kind, inputs, [output], name=scope.get_unique_operator_name(kind),
                           **attributes)  # fmt: skip
        return output

    sources = [variable.full_name for variable in operator.inputs]
    source = op("Concat", sources, axis=1) if len(sources) > 1 else sources[0]
    blocks = []
    for j in range(len(encoder.categories_)):
        shown = list(encoder._compute_transformed_categories(j))
        rare = shown[-1] == "infrequent_sklearn"
        known = [str(c).encode() for c in (shown[:-1] if rare else shown)]
        index, categories = name("index"), name("categories")
        container.add_initializer(index, TensorProto.INT64, [1], [j])
        container.add_initializer(categories, TensorProto.STRING, [len(known)], known)
        column = op("Gather", [source, index], axis=1)
        matches = op("Cast", [op("Equal", [column, categories])], to=TensorProto.FLOAT)
        blocks.append(matches)
        if rare:
            one = name("one")
            container.add_initializer(one, TensorProto.FLOAT, [], [1.0])
            axis = name("axis")
            container.add_initializer(axis, TensorProto.INT64, [1], [1])
            blocks.append(op("Sub", [one, op("ReduceSum", [matches, axis], keepdims=1)]))
    container.add_node("Concat", blocks, [operator.outputs[0].full_name], axis=1,
                       name=scope.get_unique_operator_name("Concat"))  # fmt: skip


def _one_hot_shape(operator) -> None:
    from skl2onnx.common.data_types import FloatTensorType

    encoder = operator.raw_operator
    width = sum(len(encoder._compute_transformed_categories(j))
                for j in range(len(encoder.categories_)))  # fmt: skip
    operator.outputs[0].type = FloatTensorType([None, width])


class _NumbersImputer(SimpleImputer):
    """A fitted ``SimpleImputer`` of numbers, for its converter here: skl2onnx's leaves out
    the missing-value indicators that ``add_indicator`` appends."""


def _convert_numbers_imputer(scope, operator, container) -> None:
    from onnx import TensorProto

    imputer = operator.raw_operator
    name = scope.get_unique_variable_name

    def op(kind: str, inputs: list[str], output: str | None = None, **attributes) -> str:
        output = output or name(kind.lower())
        container.add_node(kind, inputs, [output], name=scope.get_unique_operator_name(kind),
                           **attributes)  # fmt: skip
        return output

    def columns(source: str, indices) -> str:
        index = name("index")
        container.add_initializer(index, TensorProto.INT64, [len(indices)], list(indices))
        return op("Gather", [source, index], axis=1)

    sources = [variable.full_name for variable in operator.inputs]
    source = op("Concat", sources, axis=1) if len(sources) > 1 else sources[0]
    # Columns without a value in training are dropped, as scikit-learn does.
    kept = np.flatnonzero(~np.isnan(imputer.statistics_))
    values = op("Imputer", [columns(source, kept)], op_domain="ai.onnx.ml",
                imputed_value_floats=imputer.statistics_[kept].astype(np.float32).tolist(),
                replaced_value_float=float("nan"))  # fmt: skip
    outputs = [values]
    if imputer.add_indicator and len(imputer.indicator_.features_):
        missing = op("IsNaN", [columns(source, imputer.indicator_.features_)])
        outputs.append(op("Cast", [missing], to=TensorProto.FLOAT))
    op("Concat", outputs, operator.outputs[0].full_name, axis=1)


def _numbers_imputer_shape(operator) -> None:
    from skl2onnx.common.data_types import FloatTensorType

    imputer = operator.raw_operator
    width = int((~np.isnan(imputer.statistics_)).sum())
    if imputer.add_indicator:
        width += len(imputer.indicator_.features_)
    operator.outputs[0].type = FloatTensorType([None, width])


_registered = False


def _register_converters() -> None:
    """Teach skl2onnx LightGBM's and XGBoost's models (onnxmltools' converters) and the
    engine's date parts, once."""
    global _registered
    if _registered:
        return
    from lightgbm import LGBMClassifier, LGBMRegressor
    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
    from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )
    from xgboost import XGBClassifier, XGBRegressor

    labelled = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    for kind, convert in ((LGBMClassifier, convert_lightgbm), (XGBClassifier, convert_xgboost)):
        update_registered_converter(kind, f"AutoML{kind.__name__}",
                                    calculate_linear_classifier_output_shapes, convert,
                                    options=labelled)  # fmt: skip
    for kind, convert in ((LGBMRegressor, convert_lightgbm), (XGBRegressor, convert_xgboost)):
        update_registered_converter(kind, f"AutoML{kind.__name__}",
                                    calculate_linear_regressor_output_shapes, convert)  # fmt: skip
    update_registered_converter(_OneHot, "AutoMLOneHot", _one_hot_shape, _convert_one_hot)
    update_registered_converter(_TextImputer, "AutoMLTextImputer", _text_imputer_shape,
                                _convert_text_imputer)  # fmt: skip
    update_registered_converter(_NumbersImputer, "AutoMLNumbersImputer", _numbers_imputer_shape,
                                _convert_numbers_imputer)  # fmt: skip
    update_registered_converter(DateParts, "AutoMLDateParts", _date_parts_shape,
                                _convert_date_parts, parser=_parse_date_parts)  # fmt: skip
    _registered = True


def _date_parts_shape(operator) -> None:
    from skl2onnx.common.data_types import FloatTensorType

    parts = operator.raw_operator.parts_
    operator.outputs[0].type = FloatTensorType([None, sum(len(p) for p in parts.values())])


def _convert_date_parts(scope, operator, container) -> None:
    """Calendar parts from seconds since 1970 in double arithmetic: days to a civil date by
    Howard Hinnant's ``civil_from_days`` (exact over the whole proleptic Gregorian calendar);
    a missing date (NaN) gives NaN parts, as pandas does, for the imputer that follows."""
    from onnx import TensorProto

    raw = operator.raw_operator
    source = operator.inputs[0].full_name
    name = scope.get_unique_variable_name

    def const(value) -> str:
        constant = name("const")
        container.add_initializer(constant, TensorProto.DOUBLE, [], [float(value)])
        return constant

    def op(kind: str, *args: str, **attributes) -> str:
        out = name(kind.lower())
        container.add_node(kind, list(args), [out], name=scope.get_unique_operator_name(kind),
                           **attributes)  # fmt: skip
        return out

    def floor_div(a: str, b: float) -> str:
        return op("Floor", op("Div", a, const(b)))

    def linear(*terms) -> str:
        # sum of (coefficient, variable) terms and plain numbers
        total = None
        for term in terms:
            value = (
                const(term)
                if isinstance(term, (int, float))
                else (term if isinstance(term, str) else op("Mul", term[1], const(term[0])))
            )
            total = value if total is None else op("Add", total, value)
        return total

    input_double = source
    if operator.inputs[0].type.__class__.__name__ != "DoubleTensorType":
        input_double = op("Cast", source, to=TensorProto.DOUBLE)
    outputs = []
    for j, column in enumerate(raw.columns_):
        index = name("index")
        container.add_initializer(index, TensorProto.INT64, [1], [j])
        seconds = op("Gather", input_double, index, axis=1)
        days = floor_div(seconds, SECONDS_PER_DAY)
        z = linear(days, 719468)
        era = floor_div(z, 146097)
        doe = linear(z, (-146097, era))
        yoe = floor_div(linear(doe, (-1, floor_div(doe, 1460)), floor_div(doe, 36524),
                               (-1, floor_div(doe, 146096))), 365)  # fmt: skip
        day_of_era_year = linear(doe, (-365, yoe), (-1, floor_div(yoe, 4)), floor_div(yoe, 100))
        mp = floor_div(linear((5, day_of_era_year), 2), 153)
        day = linear(day_of_era_year, (-1, floor_div(linear((153, mp), 2), 5)), 1)
        late = op("Cast", op("Greater", mp, const(9.5)), to=TensorProto.DOUBLE)
        month = linear(mp, 3, (-12, late))
        early = op("Cast", op("Less", month, const(2.5)), to=TensorProto.DOUBLE)
        year = linear(yoe, (400, era), early)
        # 1 January of that year, by ``days_from_civil``: March-based, it is day 306 of the
        # year before.
        before = linear(year, -1)
        era_before = floor_div(before, 400)
        yoe_before = linear(before, (-400, era_before))
        january_first = linear((146097, era_before), (365, yoe_before),
                               floor_div(yoe_before, 4), (-1, floor_div(yoe_before, 100)),
                               306 - 719468)  # fmt: skip
        parts = {
            "year": year, "month": month, "day": day,
            "day_of_week": linear(linear(days, 3), (-7, floor_div(linear(days, 3), 7))),
            "day_of_year": linear(days, (-1, january_first), 1),
            "hour": floor_div(linear(seconds, (-SECONDS_PER_DAY, days)), 3600),
        }  # fmt: skip
        outputs.extend(parts[part] for part in raw.parts_[column])
    joined = op("Concat", *outputs, axis=1)
    container.add_node(
        "Cast",
        [joined],
        [operator.outputs[0].full_name],
        name=scope.get_unique_operator_name("Cast"),
        to=TensorProto.FLOAT,
    )


def _parse_date_parts(scope, model, inputs, custom_parsers=None):
    # Declared float from the start: the imputer after it takes its type from here, and
    # ONNX's Imputer has no double form.
    from skl2onnx.common.data_types import FloatTensorType

    operator = scope.declare_local_operator("AutoMLDateParts", model)
    operator.inputs = inputs
    operator.outputs.append(scope.declare_local_variable("date_parts", FloatTensorType()))
    return operator.outputs
