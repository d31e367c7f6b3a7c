"""compileiq-mlflow: log a compileiq search to MLflow (one parent run, a nested run per evaluation)."""

from __future__ import annotations

import getpass
import json
from typing import Any

from compileiq.tracker import BaseTracker

__all__ = ["MLflowTracker", "flatten_params"]
__version__ = "1.0.0"

_MAX_PARAM = 6000  # MLflow's limit on a param value's length


def flatten_params(config: Any) -> dict[str, str]:
    """A configuration as MLflow params: a dict as is (nested keys dotted), a str as `config_path`,
    a list as `config_<i>.<key>`."""
    out: dict[str, str] = {}

    def put(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                put(f"{prefix}.{key}" if prefix else str(key), item)
        else:
            out[prefix or "config"] = str(value)[:_MAX_PARAM]

    if isinstance(config, str):
        out["config_path"] = config[:_MAX_PARAM]
    elif isinstance(config, list):
        for i, item in enumerate(config):
            put(f"config_{i}", item)
    else:
        put("", config)
    return out


class MLflowTracker(BaseTracker):
    """Logs a search to MLflow through `MlflowClient` (no global active run is touched)."""

    def setup(self, **kwargs: Any) -> None:
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:  # pragma: no cover - mlflow is a dependency
            raise RuntimeError("MLflowTracker needs mlflow; pip install compileiq-mlflow") from None
        config = self.tracker_config
        self.client = MlflowClient(tracking_uri=config.tracking_uri)
        self.parent_id: str | None = None
        self.experiment_id: str | None = None
        self.evaluations = 0
        self.failures = 0

    # -- helpers ---------------------------------------------------------------------------------

    def _experiment(self) -> str:
        name = self.tracker_config.experiment_name or f"{getpass.getuser()}-ciq-search"
        found = self.client.get_experiment_by_name(name)
        return found.experiment_id if found is not None else self.client.create_experiment(name)

    def _metric_names(self, count: int) -> list[str]:
        names = list(self.tracker_config.score_names or [])
        return [names[i] if i < len(names) else f"score_{i + 1}" for i in range(count)]

    # -- tracker methods -------------------------------------------------------------------------

    def search_starts(self, **kwargs: Any) -> None:
        from mlflow.entities import Param, RunTag

        run_info = kwargs.get("run_info") or {}
        self.experiment_id = self._experiment()
        tags = {"status": "running", "compileiq.run_id": str(run_info.get("run_id", "")),
                "compileiq.resumed": str(bool(run_info.get("resumed")))}
        if self.tracker_config.description:
            tags["mlflow.note.content"] = self.tracker_config.description
        run = self.client.create_run(self.experiment_id, run_name=self.tracker_config.run_name, tags=tags)
        self.parent_id = run.info.run_id
        if self.tracker_config.log_config and self.search is not None:
            fields = self.search.search_config.model_dump()
            params = {f"search.{k}": json.dumps(v, default=str) for k, v in fields.items()}
            params.update({k: str(v) for k, v in run_info.items() if k in ("worker", "engine", "seed", "num_workers",
                                                                            "task_timeout")})
            self.client.log_batch(self.parent_id, params=[Param(k, v[:_MAX_PARAM]) for k, v in params.items()])
            self.client.log_batch(self.parent_id, tags=[RunTag("compileiq.search_space",
                                                               json.dumps(self.search.space.to_json())[:5000])])

    def generation_starts(self, generation_number: int, **kwargs: Any) -> None:
        pass

    def pre_objective(self, config: Any, **kwargs: Any) -> None:
        pass

    def post_objective(self, scores: str, **kwargs: Any) -> None:
        from mlflow.entities import Metric, Param, RunTag

        score = kwargs.get("score")
        if score is None or self.parent_id is None or self.experiment_id is None:
            return
        generation = int(kwargs.get("generation", 0))
        kind = "baseline" if score.is_baseline else "evaluation"
        meta = score.metadata_dict
        tags = {"mlflow.parentRunId": self.parent_id, "type": kind, "generation": str(generation),
                "param_id": str(score.param_id), "status": "failed" if score.failed else "success"}
        if score.failed:
            tags["failure_reason"] = str(meta.get("error") or meta.get("failure") or "INVALID_SCORE returned")[:5000]
        run = self.client.create_run(self.experiment_id, run_name=f"{kind}-g{generation}-{str(score.param_id)[:8]}",
                                     tags=tags)
        metrics = []
        for prefix, values in (("", score.values()), ("norm_", score.values(normalized=True) if score.norm_score
                                                      is not None else ())):
            for name, value in zip(self._metric_names(len(values)), values):
                if isinstance(value, (int, float)):
                    metrics.append(Metric(f"{prefix}{name}", float(value), 0, generation))
        params = [Param(k, v) for k, v in flatten_params(score.params).items()]
        self.client.log_batch(run.info.run_id, metrics=metrics, params=params,
                              tags=[RunTag("duration_s", str(meta["duration_s"]))] if "duration_s" in meta else [])
        self.client.set_terminated(run.info.run_id, "FAILED" if score.failed else "FINISHED")
        if not score.is_baseline:
            self.evaluations += 1
            self.failures += int(score.failed)

    def generation_ends(self, generation_number: int, **kwargs: Any) -> None:
        pass

    def search_ends(self, **kwargs: Any) -> None:
        from mlflow.entities import Metric

        if self.parent_id is None:
            return
        error = kwargs.get("error")
        result = kwargs.get("result")
        status = "finished" if error is None else ("aborted" if type(error).__name__ == "SearchAbortedError"
                                                   else "failed")
        metrics = [Metric("evaluations", self.evaluations, 0, 0), Metric("failures", self.failures, 0, 0)]
        if result is not None and self.search is not None and self.search.search_config.num_objectives == 1:
            try:
                best = result.get_best_result()
                column = "norm_score_1" if result.is_normalized else "score_1"
                name = self._metric_names(1)[0]
                metrics.append(Metric(f"best_{name}", float(best[column]), 0, 0))
            except (ValueError, TypeError, KeyError):
                pass
        self.client.log_batch(self.parent_id, metrics=metrics)
        self.client.set_tag(self.parent_id, "status", status)
        self.client.set_terminated(self.parent_id, "FINISHED" if error is None else "FAILED")
