"""The experiment form: one place that checks launch settings, for the page and the API."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.html import format_html, format_html_join

from webapp.accounts import quotas
from webapp.datasets.models import Dataset
from webapp.experiments.models import (
    BUDGET_PRESETS,
    MIN_BUDGET,
    TEST_MIN_ROWS,
    TEST_SHARE,
    Experiment,
)
from webapp.experiments.templatetags.experiments import metric_label

TASKS = [
    ("auto", "Detect from the target"),
    ("binary", "Binary classification (two classes)"),
    ("multiclass", "Multiclass classification"),
    ("regression", "Regression (a number)"),
]
BUDGET_CHOICES = [
    (str(BUDGET_PRESETS["quick"]), "Quick · 1 min"),
    (str(BUDGET_PRESETS["balanced"]), "Balanced · 5 min"),
    (str(BUDGET_PRESETS["thorough"]), "Thorough · 30 min"),
    ("custom", "Custom"),
]


class ExperimentForm(forms.Form):
    """Launch settings for ``dataset``; every default trains a sensible run."""

    name = forms.CharField(max_length=200, required=False)
    target = forms.ChoiceField(label="Column to predict")
    task = forms.ChoiceField(choices=TASKS, initial="auto")
    metric = forms.ChoiceField(initial="auto", label="Score models by")
    time_budget = forms.CharField(
        initial=str(BUDGET_PRESETS["quick"]), label="Time budget",
        widget=forms.RadioSelect(choices=BUDGET_CHOICES),
    )  # fmt: skip
    exclude = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Leave out columns"
    )
    families = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple,
        label="Model families",
        error_messages={"required": "Choose at least one model family."},
    )
    validation = forms.ChoiceField(
        choices=Experiment.Validation.choices, initial="cv", widget=forms.RadioSelect,
        label="Validate on",
    )  # fmt: skip
    n_splits = forms.IntegerField(
        required=False, min_value=2, max_value=10, initial=5, label="Folds"
    )
    holdout_size = forms.FloatField(
        required=False, min_value=0.05, max_value=0.5, initial=0.2, label="Holdout share"
    )
    time_column = forms.ChoiceField(required=False, label="Date column")
    parallelism = forms.IntegerField(
        required=False, min_value=1, max_value=64, label="Training workers",
        help_text="How many training processes, on any machine, this run may use at once. "
        "Leave empty for every one free when it starts.",
    )  # fmt: skip
    max_models = forms.IntegerField(
        required=False, min_value=1, max_value=10_000, label="Stop after this many models",
        help_text="Leave empty to train as many as the time budget allows. A count gives the "
        "same leaderboard on any machine, however busy.",
    )  # fmt: skip
    keep_test = forms.BooleanField(
        required=False,
        label=f"Keep {TEST_SHARE:.0%} of the rows aside for a final test",
        help_text="Each model is scored once on rows the search never saw: the score to expect "
        "on new data. The models then learn from the other rows only.",
    )

    def __init__(self, dataset: Dataset, *args, **kwargs):
        from automl import LEARNERS, METRICS

        super().__init__(*args, **kwargs)
        self.dataset = dataset
        columns = dataset.columns()
        names = [(c["name"], c["name"]) for c in columns if c["kind"] != "excluded"]
        self.fields["target"].choices = names
        self.fields["target"].initial = dataset.target or None
        self.fields["exclude"].choices = names
        self.fields["time_column"].choices = [("", "—")] + [
            (c["name"], c["name"]) for c in columns if c["kind"] == "datetime"
        ]
        self.fields["families"].choices = [(k, v.title) for k, v in LEARNERS.items()]
        self.fields["families"].initial = list(LEARNERS)
        self.metrics = METRICS
        self.fields["metric"].choices = [("auto", "The usual one for the task")] + [
            (m.name, metric_label(m.name)) for m in METRICS.values()
        ]
        self.fields["metric"].help_text = format_html(
            "<ul class='metric-help'>{}</ul>",
            format_html_join(
                "", "<li><strong>{}</strong>: {}</li>",
                ((metric_label(m.name), m.description) for m in METRICS.values()),
            ),
        )  # fmt: skip
        max_minutes = settings.MAX_TIME_BUDGET / 60
        self.fields[
            "time_budget"
        ].help_text = f"How long to search. Up to {max_minutes:g} minutes on this server."
        self.fields["name"].initial = f"{dataset.name} · {dataset.target}".rstrip(" ·")
        self.fields["keep_test"].initial = (dataset.n_rows or 0) >= TEST_MIN_ROWS

    def clean_time_budget(self) -> int:
        """Seconds, from a preset, a number of seconds (the API) or custom minutes (the page,
        whose ``custom_minutes`` input only counts when "custom" is chosen)."""
        value = self.cleaned_data["time_budget"]
        try:
            if value == "custom":
                seconds = float(self.data.get("custom_minutes") or "nan") * 60
            else:
                seconds = float(value)
        except ValueError:
            raise forms.ValidationError("Give the time budget as a number.") from None
        if not MIN_BUDGET <= seconds <= settings.MAX_TIME_BUDGET:  # also False for nan
            raise forms.ValidationError(
                f"The time budget must be between {MIN_BUDGET} seconds and "
                f"{settings.MAX_TIME_BUDGET // 60} minutes ({settings.MAX_TIME_BUDGET} s)."
            )
        return round(seconds)

    def clean(self):
        cleaned = super().clean()
        target = cleaned.get("target")
        if target and target in (cleaned.get("exclude") or []):
            self.add_error("exclude", f"The target {target!r} cannot be left out.")
        task = cleaned.get("task")
        if task == "auto" and self.dataset.target_profile and self.dataset.target == target:
            task = self.dataset.target_profile.get("task", "auto")
        metric = self.metrics.get(cleaned.get("metric"))
        if metric and task in ("binary", "multiclass", "regression") and task not in metric.tasks:
            suitable = ", ".join(m.name for m in self.metrics.values() if task in m.tasks)
            self.add_error("metric", f"{metric.name} does not score {task}; use {suitable}.")
        if cleaned.get("validation") == "time":
            column = cleaned.get("time_column")
            if not column:
                self.add_error("time_column", "A time-ordered split needs a date column.")
            elif column == target:
                self.add_error("time_column", "The date column cannot be the target.")
        return cleaned

    def save(self, owner) -> Experiment:
        """Create the experiment and queue it on a worker; ``QuotaExceeded`` past the
        owner's quotas."""
        data = self.cleaned_data
        with quotas.new_job(owner, experiment=True):
            experiment = Experiment(
                owner=owner,
                dataset=self.dataset,
                name=data["name"] or f"{self.dataset.name} · {data['target']}",
                target=data["target"],
                task=data["task"],
                metric=data["metric"],
                time_budget=data["time_budget"],
                families=data["families"],
                exclude=data["exclude"],
                kinds=dict(self.dataset.kinds),
                keep=list(self.dataset.keep),
                validation=data["validation"],
                n_splits=data["n_splits"] or 5,
                holdout_size=data["holdout_size"] or 0.2,
                time_column=data["time_column"] or "",
                test_size=TEST_SHARE if data["keep_test"] else None,
                parallelism=data["parallelism"],
                max_models=data["max_models"],
            )
            experiment.launch()
        return experiment
