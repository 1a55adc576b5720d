"""``otel-axolotl demo``: a real instrumented training run on a tiny model built in code.

GPT-2 with one layer, 32-dim embeddings and a 128-token vocabulary, on random tokens, on CPU:
a few seconds, no downloads. The run goes through the real pipeline (privacy stage
included) to the embedded default destination, an in-process console view printed at the
end, plus any destination the environment configures (OTLP, console, file).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import IO, Any

DEMO_CONFIG = {
    "base_model": "demo/gpt2-1-layer",
    "learning_rate": 5e-4,
    "optimizer": "adamw_torch",
    "lr_scheduler": "linear",
    "micro_batch_size": 8,
    "sequence_len": 32,
}


def build_model_and_data(samples: int = 128, seq_len: int = 32, seed: int = 0) -> tuple[Any, Any, Any]:
    """The tiny model and random datasets the demo, the tests and the benchmark share."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=128, n_positions=seq_len, n_embd=32, n_layer=1, n_head=2, bos_token_id=0, eos_token_id=0
    )
    model = GPT2LMHeadModel(config)

    class RandomTokens(torch.utils.data.Dataset):
        def __init__(self, n: int, generator_seed: int) -> None:
            g = torch.Generator().manual_seed(generator_seed)
            self.data = torch.randint(0, config.vocab_size, (n, seq_len), generator=g)

        def __len__(self) -> int:
            return len(self.data)

        def __getitem__(self, i: int) -> dict[str, Any]:
            return {"input_ids": self.data[i], "labels": self.data[i]}

    return model, RandomTokens(samples, seed), RandomTokens(max(8, samples // 8), seed + 1)


def training_arguments(output_dir: str, *, epochs: float = 2, max_steps: int = -1, **overrides: Any) -> Any:
    from transformers import TrainingArguments

    options: dict[str, Any] = {
        "output_dir": output_dir,
        "num_train_epochs": epochs,
        "max_steps": max_steps,
        "per_device_train_batch_size": 8,
        "per_device_eval_batch_size": 8,
        "learning_rate": 5e-4,
        "logging_steps": 4,
        "eval_strategy": "epoch",
        "save_strategy": "epoch",
        "save_total_limit": 1,
        "report_to": [],
        "use_cpu": True,
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
        "seed": 0,
    }
    options.update(overrides)
    return TrainingArguments(**options)


class _Capture:
    """The embedded default destination: keeps what the pipeline delivered, for the summary."""

    def __init__(self) -> None:
        from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: F401
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        self.spans = InMemorySpanExporter()
        self.logs = InMemoryLogRecordExporter()
        self.metrics: list[Any] = []

    def destination(self) -> Any:
        from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult

        from .destinations import Destination
        from .privacy.values import Level

        captured = self.metrics

        class _Metrics(MetricExporter):
            def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> Any:
                captured.append(metrics_data)
                return MetricExportResult.SUCCESS

            def force_flush(self, timeout_millis: float = 10_000) -> bool:
                return True

            def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
                return None

        return Destination("console", Level.STRICT, self.spans, self.logs, _Metrics())


def render_summary(
    spans: Sequence[Any], records: Sequence[Any], metrics: Sequence[Any], out: IO[str]
) -> None:
    """A human view of one run: the span tree, the events and the last metric values."""
    by_parent: dict[int | None, list[Any]] = {}
    ids = {s.context.span_id for s in spans}
    for s in sorted(spans, key=lambda s: s.start_time or 0):
        parent = s.parent.span_id if s.parent is not None and s.parent.span_id in ids else None
        by_parent.setdefault(parent, []).append(s)

    def line(s: Any) -> str:
        ms = ((s.end_time or 0) - (s.start_time or 0)) / 1e6
        attrs = {k: v for k, v in (s.attributes or {}).items() if k.startswith(("axolotl.", "gen_ai."))}
        for hidden in ("axolotl.run.id", "axolotl.privacy.redactions"):
            attrs.pop(hidden, None)
        shown = ", ".join(f"{k.removeprefix('axolotl.')}={v}" for k, v in attrs.items())
        return f"{s.name}  {ms:.0f} ms  status={s.status.status_code.name}  [{shown}]"

    def walk(parent: int | None, prefix: str) -> None:
        children = by_parent.get(parent, [])
        for i, s in enumerate(children):
            last = i == len(children) - 1
            out.write(f"{prefix}{'└─ ' if last else '├─ '}{line(s)}\n")
            walk(s.context.span_id, prefix + ("   " if last else "│  "))

    trace_ids = {format(s.context.trace_id, "032x") for s in spans}
    out.write(f"\nTrace (run id) {', '.join(sorted(trace_ids))}: {len(spans)} spans\n")
    walk(None, "")
    out.write(f"\nEvents ({len(records)}):\n")
    for r in records:
        rec = r.log_record
        body = rec.body if isinstance(rec.body, dict) else {}
        preview = json.dumps(body, default=str)
        out.write(f"  {rec.event_name:<16} {preview[:110]}{'...' if len(preview) > 110 else ''}\n")
    latest: dict[str, tuple[str, str, Any]] = {}
    for data in metrics:
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    points = list(m.data.data_points)
                    if points:
                        p = points[-1]
                        value = getattr(p, "value", None)
                        if value is None:
                            value = f"count={p.count} sum={p.sum:.4g}"
                        latest[m.name] = (type(m.data).__name__.lower(), m.unit or "", value)
    out.write(f"\nMetrics ({len(latest)}):\n")
    for name in sorted(latest):
        kind, unit, value = latest[name]
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        out.write(f"  {name:<34} {kind:<9} {unit:<12} last={shown}\n")


NEXT_STEPS = """
That run went through the privacy stage to the embedded console view above.
Send the same run to your own backend with the standard OpenTelemetry variables:
  docker compose up jaeger            # Jaeger UI on http://localhost:16686
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://127.0.0.1:4317 otel-axolotl demo  # Jaeger stores traces
See docs/self-hosting.md for the OpenTelemetry Collector, Prometheus and Grafana.
"""


def run_demo(
    epochs: float = 2, samples: int = 128, json_lines: bool = False, out: IO[str] | None = None
) -> int:
    out = out or sys.stdout
    os.environ.setdefault("AXOLOTL_DO_NOT_TRACK", "1")  # the demo never sends product telemetry
    from .destinations import console
    from .manager import TelemetryManager
    from .privacy.values import Level

    capture = _Capture()
    extra = [capture.destination()]
    if json_lines:
        extra.append(console(Level.STRICT, out))
    manager = TelemetryManager(
        extra_destinations=extra, library_name="otel-axolotl-demo", show_consent_notice=False
    )
    from transformers import Trainer

    from .callbacks import TelemetryCallback

    with tempfile.TemporaryDirectory(prefix="otel-axolotl-demo-") as tmp:
        model, train, evaluation = build_model_and_data(samples=samples)
        manager.send_event("config-loaded", {"output_dir": tmp, **DEMO_CONFIG, "num_epochs": epochs})
        started = time.perf_counter()
        trainer = Trainer(
            model=model,
            args=training_arguments(tmp, epochs=epochs),
            train_dataset=train,
            eval_dataset=evaluation,
            callbacks=[TelemetryCallback(manager)],
        )
        trainer.train()
        elapsed = time.perf_counter() - started
    manager.shutdown()
    out.write(
        f"\nTrained {trainer.state.global_step} steps in {elapsed:.1f} s "
        f"(final loss {trainer.state.log_history[-1].get('train_loss', float('nan')):.3f}).\n"
    )
    configured = manager.destinations[: -len(extra)]
    if configured:
        out.write(f"Also sent to: {', '.join(configured)}\n")
    render_summary(capture.spans.get_finished_spans(), capture.logs.get_finished_logs(), capture.metrics, out)
    out.write(NEXT_STEPS)
    return 0
