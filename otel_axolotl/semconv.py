# Generated from semconv/registry.yaml by semconv/generate.py: do not edit.
# Regenerate with `python semconv/generate.py`.
"""Every name otel-axolotl emits, and the privacy class of every attribute.

Readable version: docs/what-we-collect.md. Only `re` and `dataclasses` are imported, so
importing this module costs next to nothing.
"""

import re
from dataclasses import dataclass

# Attributes
ATTR_CHECKPOINT_STEP = "axolotl.checkpoint.step"
ATTR_CONFIG = "axolotl.config"
ATTR_EPOCH = "axolotl.epoch"
ATTR_EVAL_LOSS = "axolotl.eval.loss"
ATTR_EVAL_METRIC_NAME = "axolotl.eval.metric.name"
ATTR_EVENT = "axolotl.event"
ATTR_GPU_ORDINAL = "axolotl.gpu.ordinal"
ATTR_LIBRARY_NAME = "axolotl.library.name"
ATTR_LIBRARY_VERSION = "axolotl.library.version"
ATTR_LOCAL_RANK = "axolotl.local_rank"
ATTR_PRIVACY_LEVEL = "axolotl.privacy.level"
ATTR_PRIVACY_REDACTIONS = "axolotl.privacy.redactions"
ATTR_RANK = "axolotl.rank"
ATTR_RUN_ID = "axolotl.run.id"
ATTR_RUN_STATUS = "axolotl.run.status"
ATTR_STEP = "axolotl.step"
ATTR_TELEMETRY_DESTINATION = "axolotl.telemetry.destination"
ATTR_TELEMETRY_SIGNAL = "axolotl.telemetry.signal"
ATTR_TRAIN_BATCH_SIZE = "axolotl.train.batch_size"
ATTR_TRAIN_GRADIENT_ACCUMULATION_STEPS = "axolotl.train.gradient_accumulation_steps"
ATTR_TRAIN_MAX_STEPS = "axolotl.train.max_steps"
ATTR_TRAIN_NUM_EPOCHS = "axolotl.train.num_epochs"
ATTR_TRAIN_SUMMARY_LOSS = "axolotl.train.summary.loss"
ATTR_TRAIN_SUMMARY_RUNTIME = "axolotl.train.summary.runtime"
ATTR_TRAIN_SUMMARY_SAMPLES_PER_SECOND = "axolotl.train.summary.samples_per_second"
ATTR_TRAIN_SUMMARY_STEPS_PER_SECOND = "axolotl.train.summary.steps_per_second"
ATTR_TRAIN_SUMMARY_TOKENS_PER_SECOND = "axolotl.train.summary.tokens_per_second"
ATTR_TRAIN_SUMMARY_TOTAL_FLOS = "axolotl.train.summary.total_flos"
ATTR_TRAINER = "axolotl.trainer"
ATTR_WINDOW_LOSS_LAST = "axolotl.window.loss.last"
ATTR_WINDOW_LOSS_MEAN = "axolotl.window.loss.mean"
ATTR_WINDOW_STEP_FIRST = "axolotl.window.step.first"
ATTR_WINDOW_STEP_LAST = "axolotl.window.step.last"
ATTR_WINDOW_STEPS = "axolotl.window.steps"
ATTR_WINDOW_STEPS_PER_SECOND = "axolotl.window.steps_per_second"
ATTR_WORLD_SIZE = "axolotl.world_size"
ATTR_CODE_FUNCTION_NAME = "code.function.name"
ATTR_CPU_MODE = "cpu.mode"
ATTR_ERROR_TYPE = "error.type"
ATTR_EXCEPTION_MESSAGE = "exception.message"
ATTR_EXCEPTION_STACKTRACE = "exception.stacktrace"
ATTR_EXCEPTION_TYPE = "exception.type"
ATTR_GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
ATTR_HOST_ARCH = "host.arch"
ATTR_HOST_NAME = "host.name"
ATTR_HW_ID = "hw.id"
ATTR_HW_MODEL = "hw.model"
ATTR_HW_TYPE = "hw.type"
ATTR_HW_VENDOR = "hw.vendor"
ATTR_OS_TYPE = "os.type"
ATTR_PROCESS_COMMAND_LINE = "process.command_line"
ATTR_PROCESS_RUNTIME_NAME = "process.runtime.name"
ATTR_PROCESS_RUNTIME_VERSION = "process.runtime.version"
ATTR_SERVICE_INSTANCE_ID = "service.instance.id"
ATTR_SERVICE_NAME = "service.name"
ATTR_SERVICE_VERSION = "service.version"
ATTR_TELEMETRY_DISTRO_NAME = "telemetry.distro.name"
ATTR_TELEMETRY_DISTRO_VERSION = "telemetry.distro.version"
ATTR_TELEMETRY_SDK_LANGUAGE = "telemetry.sdk.language"
ATTR_TELEMETRY_SDK_NAME = "telemetry.sdk.name"
ATTR_TELEMETRY_SDK_VERSION = "telemetry.sdk.version"
ATTR_USER_NAME = "user.name"

# Spans
SPAN_CHECKPOINT_SAVE = "axolotl.checkpoint.save"
SPAN_CONFIG_LOAD = "axolotl.config.load"
SPAN_EPOCH = "axolotl.epoch"
SPAN_EVALUATE = "axolotl.evaluate"
SPAN_MODEL_LOAD = "axolotl.model.load"
SPAN_RUN = "axolotl.run"
SPAN_STEP = "axolotl.step"
SPAN_WINDOW = "axolotl.window"

# Events
EVENT_ERROR_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*-error$")
EVENT_CONFIG_LOADED = "config-loaded"
EVENT_CONFIG_PROCESSED = "config-processed"
EVENT_EXCEPTION = "exception"
EVENT_FUSED_ROPE_AUTOTUNE = "fused-rope-autotune"
EVENT_MODEL_LOAD = "model-load"
EVENT_PEFT_CONFIG_LOAD = "peft-config-load"
EVENT_SONICMOE_AUTOTUNE = "sonicmoe-autotune"
EVENT_SYSTEM_INFO = "system-info"
EVENT_TRAIN_END = "train-end"
EVENT_TRAIN_PROGRESS = "train-progress"
EVENT_TRAIN_START = "train-start"
EVENT_TRITON_AUTOTUNE = "triton-autotune"

# Metrics
METRIC_EVAL_LOSS = "axolotl.eval.loss"
METRIC_EVAL_METRIC = "axolotl.eval.metric"
METRIC_TELEMETRY_DROPPED = "axolotl.telemetry.dropped"
METRIC_TORCH_MEMORY_ALLOCATED = "axolotl.torch.memory.allocated"
METRIC_TORCH_MEMORY_RESERVED = "axolotl.torch.memory.reserved"
METRIC_TRAIN_EPOCH = "axolotl.train.epoch"
METRIC_TRAIN_GRAD_NORM = "axolotl.train.grad_norm"
METRIC_TRAIN_LEARNING_RATE = "axolotl.train.learning_rate"
METRIC_TRAIN_LOSS = "axolotl.train.loss"
METRIC_TRAIN_STEP_DURATION = "axolotl.train.step.duration"
METRIC_TRAIN_STEPS = "axolotl.train.steps"
METRIC_TRAIN_THROUGHPUT_SAMPLES = "axolotl.train.throughput.samples"
METRIC_TRAIN_THROUGHPUT_TOKENS = "axolotl.train.throughput.tokens"
METRIC_HW_ENERGY = "hw.energy"
METRIC_HW_GPU_MEMORY_LIMIT = "hw.gpu.memory.limit"
METRIC_HW_GPU_MEMORY_USAGE = "hw.gpu.memory.usage"
METRIC_HW_GPU_MEMORY_UTILIZATION = "hw.gpu.memory.utilization"
METRIC_HW_GPU_UTILIZATION = "hw.gpu.utilization"
METRIC_HW_POWER = "hw.power"
METRIC_HW_TEMPERATURE = "hw.temperature"
METRIC_PROCESS_CPU_UTILIZATION = "process.cpu.utilization"
METRIC_PROCESS_MEMORY_USAGE = "process.memory.usage"
METRIC_SYSTEM_CPU_UTILIZATION = "system.cpu.utilization"
METRIC_SYSTEM_MEMORY_USAGE = "system.memory.usage"


@dataclass(frozen=True)
class AttributeSpec:
    """A registered attribute; a template attribute is registered by its namespace."""

    name: str
    type: str
    privacy: str
    brief: str
    examples: tuple[object, ...]


@dataclass(frozen=True)
class SpanSpec:
    name: str
    brief: str
    attributes: tuple[str, ...]


@dataclass(frozen=True)
class EventSpec:
    """A registered event; with a `pattern`, a family of names (`name` only describes it)."""

    name: str
    brief: str
    attributes: tuple[str, ...]
    pattern: re.Pattern[str] | None = None


@dataclass(frozen=True)
class MetricSpec:
    name: str
    instrument: str
    unit: str
    brief: str
    attributes: tuple[str, ...]


ATTRIBUTES: dict[str, AttributeSpec] = {
    spec.name: spec
    for spec in (  # name, type, privacy, brief, examples
        AttributeSpec(
            ATTR_CHECKPOINT_STEP, "int", "public", "Global step of a saved checkpoint (never its path).",
            (500,),
        ),
        AttributeSpec(
            ATTR_CONFIG, "template[string]", "open",
            "The redacted training configuration, flattened (`axolotl.config.<key>`). In events the same "
            "content travels as the event body.",
            ("axolotl.config.learning_rate=0.0002",),
        ),
        AttributeSpec(ATTR_EPOCH, "int", "public", "Zero-based index of the epoch a span covers.", (0,)),
        AttributeSpec(
            ATTR_EVAL_LOSS, "double", "public", "Evaluation loss reported by an evaluation.", (2.31,),
        ),
        AttributeSpec(
            ATTR_EVAL_METRIC_NAME, "string", "public",
            "Which evaluation metric a point of axolotl.eval.metric is: the trainer's key without its eval_ "
            "prefix, kept only when it looks like an identifier (letters, digits, _ . / -, at most 64 "
            "characters) and only for the first 32 distinct names of a run.",
            ("loss", "accuracy", "runtime", "samples_per_second"),
        ),
        AttributeSpec(
            ATTR_EVENT, "template[string]", "open",
            "Properties of an event sent with send_event (`axolotl.event.<key>`); in events they travel as "
            "the event body.",
            ("axolotl.event.message=hello",),
        ),
        AttributeSpec(
            ATTR_GPU_ORDINAL, "int", "public",
            "The device's CUDA ordinal as this process sees it (what cuda:N means to torch); the NVML index "
            "on the node with OTEL_AXOLOTL_GPUS=all.",
            (0,),
        ),
        AttributeSpec(
            ATTR_LIBRARY_NAME, "string", "public",
            "The host library that embeds otel-axolotl (set by the library in code).", ("axolotl",),
        ),
        AttributeSpec(ATTR_LIBRARY_VERSION, "string", "public", "Version of the host library.", ("0.12.0",)),
        AttributeSpec(ATTR_LOCAL_RANK, "int", "public", "Rank of the process on its node.", (0,)),
        AttributeSpec(
            ATTR_PRIVACY_LEVEL, "string", "public", "Privacy level the item was scrubbed at.",
            ("strict", "secrets-only"),
        ),
        AttributeSpec(
            ATTR_PRIVACY_REDACTIONS, "int", "public",
            "How many values the privacy stage redacted in this span or event (never what).", (3,),
        ),
        AttributeSpec(
            ATTR_RANK, "int", "public", "Global rank of the process (0 for single-process runs).", (0,),
        ),
        AttributeSpec(
            ATTR_RUN_ID, "string", "public",
            "Anonymous random id of the run (32 hex digits); equal to the run's trace id.",
            ("4bf92f3577b34da6a3ce929d0e0e4736",),
        ),
        AttributeSpec(
            ATTR_RUN_STATUS, "string", "public", "How the run ended.", ("completed", "failed", "interrupted"),
        ),
        AttributeSpec(
            ATTR_STEP, "int", "public", "Global optimizer step at which something happened.", (120,),
        ),
        AttributeSpec(
            ATTR_TELEMETRY_DESTINATION, "string", "public",
            "Destination that spans or events were meant for.", ("otlp", "posthog"),
        ),
        AttributeSpec(
            ATTR_TELEMETRY_SIGNAL, "string", "public", "Kind of telemetry (OpenTelemetry signal name).",
            ("traces", "logs"),
        ),
        AttributeSpec(ATTR_TRAIN_BATCH_SIZE, "int", "public", "Per-device train batch size.", (8,)),
        AttributeSpec(
            ATTR_TRAIN_GRADIENT_ACCUMULATION_STEPS, "int", "public", "Gradient accumulation steps.", (4,),
        ),
        AttributeSpec(
            ATTR_TRAIN_MAX_STEPS, "int", "public", "Total optimizer steps the run is planned for.", (1000,),
        ),
        AttributeSpec(
            ATTR_TRAIN_NUM_EPOCHS, "double", "public", "Number of epochs the run is planned for.", (3.0,),
        ),
        AttributeSpec(
            ATTR_TRAIN_SUMMARY_LOSS, "double", "public",
            "Mean training loss over the whole run, as the trainer reports it when training ends.", (2.05,),
        ),
        AttributeSpec(
            ATTR_TRAIN_SUMMARY_RUNTIME, "double", "public",
            "Training time in seconds, as the trainer reports it when training ends.", (512.3,),
        ),
        AttributeSpec(
            ATTR_TRAIN_SUMMARY_SAMPLES_PER_SECOND, "double", "public",
            "Mean training throughput in samples per second over the whole run.", (31.2,),
        ),
        AttributeSpec(
            ATTR_TRAIN_SUMMARY_STEPS_PER_SECOND, "double", "public",
            "Mean optimizer steps per second over the whole run.", (3.9,),
        ),
        AttributeSpec(
            ATTR_TRAIN_SUMMARY_TOKENS_PER_SECOND, "double", "public",
            "Mean training throughput in tokens per second over the whole run (when the trainer counts "
            "tokens).",
            (4096.0,),
        ),
        AttributeSpec(
            ATTR_TRAIN_SUMMARY_TOTAL_FLOS, "double", "public",
            "Floating-point operations of the whole run, as the trainer estimates them.", ("1.2e15",),
        ),
        AttributeSpec(
            ATTR_TRAINER, "string", "public", "Which integration produced the telemetry.",
            ("transformers", "lightning", "loop"),
        ),
        AttributeSpec(
            ATTR_WINDOW_LOSS_LAST, "double", "public",
            "Last training loss logged in the window (absent when none was logged).", (2.27,),
        ),
        AttributeSpec(
            ATTR_WINDOW_LOSS_MEAN, "double", "public",
            "Mean of the training losses logged in the window (absent when none was logged).", (2.31,),
        ),
        AttributeSpec(
            ATTR_WINDOW_STEP_FIRST, "int", "public", "First global optimizer step a window span covers.",
            (101,),
        ),
        AttributeSpec(
            ATTR_WINDOW_STEP_LAST, "int", "public", "Last global optimizer step a window span covers.",
            (200,),
        ),
        AttributeSpec(ATTR_WINDOW_STEPS, "int", "public", "Optimizer steps in the window.", (100,)),
        AttributeSpec(
            ATTR_WINDOW_STEPS_PER_SECOND, "double", "public", "Optimizer steps per second over the window.",
            (4.2,),
        ),
        AttributeSpec(ATTR_WORLD_SIZE, "int", "public", "Number of processes in the run.", (8,)),
        AttributeSpec(
            ATTR_CODE_FUNCTION_NAME, "string", "public",
            "The function that reported an error through send_errors.", ("axolotl.train.train",),
        ),
        AttributeSpec(ATTR_CPU_MODE, "string", "public", "", ("user", "system")),
        AttributeSpec(
            ATTR_ERROR_TYPE, "string", "public",
            "Fully qualified exception class (builtins short: ValueError), or a drop reason on "
            "axolotl.telemetry.dropped.",
            ("RuntimeError",),
        ),
        AttributeSpec(
            ATTR_EXCEPTION_MESSAGE, "string", "open", "After the value rules.",
            ("CUDA out of memory. Tried to allocate 2.00 GiB",),
        ),
        AttributeSpec(
            ATTR_EXCEPTION_STACKTRACE, "string", "open",
            "Package-relative frames kept, every other path reduced to its file name.",
            ('File "site-packages/transformers/trainer.py", line 2240, in train',),
        ),
        AttributeSpec(ATTR_EXCEPTION_TYPE, "string", "public", "", ("torch.OutOfMemoryError",)),
        AttributeSpec(
            ATTR_GEN_AI_REQUEST_MODEL, "string", "whitelisted-name", "", ("meta-llama/Llama-3.1-8B",),
        ),
        AttributeSpec(ATTR_HOST_ARCH, "string", "public", "", ("amd64",)),
        AttributeSpec(
            ATTR_HOST_NAME, "string", "never",
            "Listed so that nobody adds it; a user who sets it through OTEL_RESOURCE_ATTRIBUTES still never "
            "sends it.",
            ("gpu-node-17",),
        ),
        AttributeSpec(
            ATTR_HW_ID, "string", "redacted",
            "The GPU UUID (NVML nvmlDeviceGetUUID, as DCGM and nvidia-smi show it), else its CUDA ordinal "
            "when NVML cannot read the UUID. It identifies a physical GPU, so strict replaces it "
            "(axolotl.gpu.ordinal keeps the series apart); secrets-only keeps it, to join with DCGM.",
            ("GPU-5fa4a8e2-3c1d-7b9e-0f12-a3b4c5d6e7f8",),
        ),
        AttributeSpec(
            ATTR_HW_MODEL, "string", "public", "NVML nvmlDeviceGetName.", ("NVIDIA H100 80GB HBM3",),
        ),
        AttributeSpec(ATTR_HW_TYPE, "string", "public", "On power and temperature readings.", ("gpu",)),
        AttributeSpec(ATTR_HW_VENDOR, "string", "public", "", ("nvidia",)),
        AttributeSpec(ATTR_OS_TYPE, "string", "public", "", ("linux",)),
        AttributeSpec(
            ATTR_PROCESS_COMMAND_LINE, "string", "never", "Never emitted.",
            ("python train.py --token hf_...",),
        ),
        AttributeSpec(ATTR_PROCESS_RUNTIME_NAME, "string", "public", "", ("cpython",)),
        AttributeSpec(ATTR_PROCESS_RUNTIME_VERSION, "string", "public", "", ("3.11.7",)),
        AttributeSpec(
            ATTR_SERVICE_INSTANCE_ID, "string", "public", "Resource; random per process.",
            ("627cc493-f310-47de-96bd-71410b7dec09",),
        ),
        AttributeSpec(
            ATTR_SERVICE_NAME, "string", "public",
            "Resource. OTEL_SERVICE_NAME, else service.name in OTEL_RESOURCE_ATTRIBUTES, else the global "
            "TracerProvider's, else otel-axolotl; never sent to product analytics when the user set it.",
            ("otel-axolotl",),
        ),
        AttributeSpec(ATTR_SERVICE_VERSION, "string", "public", "", ("0.1.0",)),
        AttributeSpec(ATTR_TELEMETRY_DISTRO_NAME, "string", "public", "", ("otel-axolotl",)),
        AttributeSpec(ATTR_TELEMETRY_DISTRO_VERSION, "string", "public", "", ("0.1.0",)),
        AttributeSpec(ATTR_TELEMETRY_SDK_LANGUAGE, "string", "public", "", ("python",)),
        AttributeSpec(ATTR_TELEMETRY_SDK_NAME, "string", "public", "", ("opentelemetry",)),
        AttributeSpec(ATTR_TELEMETRY_SDK_VERSION, "string", "public", "", ("1.45.2",)),
        AttributeSpec(ATTR_USER_NAME, "string", "never", "Never emitted.", ("alice",)),
    )
}

OPEN_NAMESPACES: tuple[str, ...] = (ATTR_CONFIG, ATTR_EVENT)

SPANS: dict[str, SpanSpec] = {
    spec.name: spec
    for spec in (  # name, brief, attributes
        SpanSpec(SPAN_CHECKPOINT_SAVE, "Saving one checkpoint.", (ATTR_CHECKPOINT_STEP,)),
        SpanSpec(
            SPAN_CONFIG_LOAD,
            "Loading and validating the training configuration (host library, through the loop API).", (),
        ),
        SpanSpec(SPAN_EPOCH, "One epoch of training.", (ATTR_EPOCH,)),
        SpanSpec(SPAN_EVALUATE, "One evaluation pass.", (ATTR_EVAL_LOSS, ATTR_STEP)),
        SpanSpec(
            SPAN_MODEL_LOAD, "Loading the model and tokenizer (host library, through the loop API).",
            (ATTR_GEN_AI_REQUEST_MODEL,),
        ),
        SpanSpec(
            SPAN_RUN,
            "The whole training run (one trace per run, every rank); a child of the user's active span or "
            "of TRACEPARENT when there is one, else the root of a trace whose id is the run id.",
            (
                ATTR_RANK, ATTR_RUN_ID, ATTR_RUN_STATUS, ATTR_TRAIN_BATCH_SIZE,
                ATTR_TRAIN_GRADIENT_ACCUMULATION_STEPS, ATTR_TRAIN_MAX_STEPS, ATTR_TRAIN_NUM_EPOCHS,
                ATTR_TRAIN_SUMMARY_LOSS, ATTR_TRAIN_SUMMARY_RUNTIME, ATTR_TRAIN_SUMMARY_SAMPLES_PER_SECOND,
                ATTR_TRAIN_SUMMARY_STEPS_PER_SECOND, ATTR_TRAIN_SUMMARY_TOKENS_PER_SECOND,
                ATTR_TRAIN_SUMMARY_TOTAL_FLOS, ATTR_TRAINER, ATTR_WORLD_SIZE, ATTR_ERROR_TYPE,
                ATTR_GEN_AI_REQUEST_MODEL,
            ),
        ),
        SpanSpec(
            SPAN_STEP, "One optimizer step; only when OTEL_AXOLOTL_STEP_SPANS samples it (off by default).",
            (ATTR_STEP,),
        ),
        SpanSpec(
            SPAN_WINDOW,
            "A bounded stretch of training (OTEL_AXOLOTL_WINDOW_STEPS steps or OTEL_AXOLOTL_WINDOW_SECONDS "
            "seconds, whichever first), a child of its epoch: sent as it ends, so a trace fills in while "
            "the run goes on and keeps all but the last window after a kill.",
            (
                ATTR_WINDOW_LOSS_LAST, ATTR_WINDOW_LOSS_MEAN, ATTR_WINDOW_STEP_FIRST, ATTR_WINDOW_STEP_LAST,
                ATTR_WINDOW_STEPS, ATTR_WINDOW_STEPS_PER_SECOND,
            ),
        ),
    )
}

EVENTS: dict[str, EventSpec] = {
    spec.name: spec
    for spec in (  # name, brief, attributes[, pattern]
        EventSpec(
            "<module>.<function>-error",
            "A sanitized error reported by send_errors or the excepthook; named after the reporting "
            "function as Axolotl does. Body keys (Axolotl 0.21.0's): exception (type, module), "
            "stack_trace.frames (filename reduced by the stack-trace rule, function, lineno); no message.",
            (ATTR_CODE_FUNCTION_NAME, ATTR_EXCEPTION_MESSAGE, ATTR_EXCEPTION_STACKTRACE, ATTR_EXCEPTION_TYPE),
            EVENT_ERROR_PATTERN,
        ),
        EventSpec(
            EVENT_CONFIG_LOADED,
            "The redacted training configuration, once per run. Body is the open namespace axolotl.config.",
            (),
        ),
        EventSpec(
            EVENT_CONFIG_PROCESSED,
            "Axolotl's event: the configuration after Axolotl normalised it (redacted like config-loaded). "
            "Body is the open namespace axolotl.config.",
            (),
        ),
        EventSpec(
            EVENT_EXCEPTION,
            "OpenTelemetry's exception span event, recorded on the current span when an error is reported.",
            (ATTR_EXCEPTION_MESSAGE, ATTR_EXCEPTION_STACKTRACE, ATTR_EXCEPTION_TYPE),
        ),
        EventSpec(EVENT_FUSED_ROPE_AUTOTUNE, "Axolotl's event: the fused RoPE kernel's autotune result.", ()),
        EventSpec(
            EVENT_MODEL_LOAD,
            "Axolotl's event: a model was loaded (its type and the whitelisted model name).", (),
        ),
        EventSpec(EVENT_PEFT_CONFIG_LOAD, "Axolotl's event: an adapter (PEFT) configuration was loaded.", ()),
        EventSpec(EVENT_SONICMOE_AUTOTUNE, "Axolotl's event: the SonicMoE kernel's autotune result.", ()),
        EventSpec(
            EVENT_SYSTEM_INFO,
            "Operating system, Python and package versions, CPU count, total memory, accelerator type, "
            "count and models; once per run, after config-loaded or else at train start. No host name, "
            "user, path or serial number.",
            (),
        ),
        EventSpec(
            EVENT_TRAIN_END,
            "Training ended. Body keys (Axolotl 0.21.0's): total_time_seconds, total_steps, "
            "steps_per_second, epochs_completed, peak_cpu_memory_bytes, epoch_times (epoch_<n>_seconds), "
            "average_epoch_time_seconds, gpu_memory (gpu_<i>_peak_memory_bytes, "
            "gpu_<i>_peak_memory_source), step, start_step, aggregate (train_loss, the run mean), "
            "latest_step (the latest logged metrics and their metric_steps).",
            (ATTR_RUN_STATUS, ATTR_STEP),
        ),
        EventSpec(
            EVENT_TRAIN_PROGRESS,
            "Periodic progress, by Axolotl 0.21.0's rule: at the run's first step, then "
            "OTEL_AXOLOTL_PROGRESS_STEPS steps after the last report, or earlier at a multiple of it once "
            "OTEL_AXOLOTL_PROGRESS_SECONDS have passed. Body keys (Axolotl's): the latest value of each "
            "logged metric among loss, ppl, learning_rate, grad_norm, tokens/total, tokens/trainable, "
            "tokens/train_per_sec_per_gpu (only once logged), metric_steps (the step each was logged at), "
            "start_step, step, epoch, progress, steps_per_second, elapsed_time, time_since_last_report, "
            "memory (cpu_memory_bytes, peak_cpu_memory_bytes, gpu_<i>_memory_bytes, "
            "gpu_<i>_peak_memory_bytes, gpu_<i>_peak_memory_source).",
            (ATTR_STEP,),
        ),
        EventSpec(EVENT_TRAIN_START, "Training began.", (ATTR_TRAIN_MAX_STEPS, ATTR_TRAIN_NUM_EPOCHS)),
        EventSpec(
            EVENT_TRITON_AUTOTUNE,
            "Axolotl's event: a Triton kernel autotune result (kernel and configuration options).", (),
        ),
    )
}

METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (  # name, instrument, unit, brief, attributes
        MetricSpec(
            METRIC_EVAL_LOSS, "gauge", "{loss}", "Evaluation loss of the latest evaluation.", (ATTR_RANK,),
        ),
        MetricSpec(
            METRIC_EVAL_METRIC, "gauge", "1",
            "Every numeric metric of the latest evaluation (eval_loss, eval_accuracy, eval_runtime, ...), "
            "one point per metric, told apart by axolotl.eval.metric.name; the metric name itself is fixed, "
            "so no user key ever becomes a metric name.",
            (ATTR_EVAL_METRIC_NAME, ATTR_RANK),
        ),
        MetricSpec(
            METRIC_TELEMETRY_DROPPED, "observable_counter", "{item}",
            "Spans and events lost before delivery, by reason (error.type): queue_full (the destination's "
            "bounded queue refused it), spool_full (deleted from the on-disk spool to keep its size cap), "
            "undelivered (not delivered and not kept: spool off, unwritable, or given up after repeated "
            "failures), shutdown (arrived after shutdown).",
            (ATTR_TELEMETRY_DESTINATION, ATTR_TELEMETRY_SIGNAL, ATTR_ERROR_TYPE),
        ),
        MetricSpec(
            METRIC_TORCH_MEMORY_ALLOCATED, "observable_gauge", "By",
            "PyTorch allocator figure torch.cuda.memory_allocated; only once the program has imported torch "
            "and initialised CUDA itself.",
            (ATTR_GPU_ORDINAL, ATTR_RANK, ATTR_HW_ID),
        ),
        MetricSpec(
            METRIC_TORCH_MEMORY_RESERVED, "observable_gauge", "By",
            "PyTorch allocator figure torch.cuda.memory_reserved; only once the program has imported torch "
            "and initialised CUDA itself.",
            (ATTR_GPU_ORDINAL, ATTR_RANK, ATTR_HW_ID),
        ),
        MetricSpec(METRIC_TRAIN_EPOCH, "gauge", "{epoch}", "Fractional epoch reached.", (ATTR_RANK,)),
        MetricSpec(METRIC_TRAIN_GRAD_NORM, "gauge", "{norm}", "Gradient norm as last logged.", (ATTR_RANK,)),
        MetricSpec(
            METRIC_TRAIN_LEARNING_RATE, "gauge", "{rate}", "Learning rate as last logged.", (ATTR_RANK,),
        ),
        MetricSpec(
            METRIC_TRAIN_LOSS, "gauge", "{loss}",
            "Training loss of the latest logged step (the trainer's closing run mean is not a step loss: it "
            "goes to axolotl.train.summary.loss on the run span).",
            (ATTR_RANK,),
        ),
        MetricSpec(
            METRIC_TRAIN_STEP_DURATION, "histogram", "s", "Wall time of one optimizer step.", (ATTR_RANK,),
        ),
        MetricSpec(
            METRIC_TRAIN_STEPS, "observable_counter", "{step}", "Optimizer steps completed.", (ATTR_RANK,),
        ),
        MetricSpec(
            METRIC_TRAIN_THROUGHPUT_SAMPLES, "gauge", "{sample}/s",
            "Samples per second, as reported by the trainer.", (ATTR_RANK,),
        ),
        MetricSpec(
            METRIC_TRAIN_THROUGHPUT_TOKENS, "gauge", "{token}/s",
            "Tokens per second, where the trainer reports it.", (ATTR_RANK,),
        ),
        MetricSpec(
            METRIC_HW_ENERGY, "observable_counter", "J",
            "Energy the GPU consumed since the driver was loaded (NVML total energy consumption, mJ / "
            "1000); only from GPUs that report it (Volta and newer). Upstream: OpenTelemetry semantic "
            "conventions, hardware metrics (https://opentelemetry.io/docs/specs/semconv/hardware/common/).",
            (ATTR_GPU_ORDINAL, ATTR_RANK, ATTR_HW_ID, ATTR_HW_MODEL, ATTR_HW_TYPE, ATTR_HW_VENDOR),
        ),
        MetricSpec(
            METRIC_HW_GPU_MEMORY_LIMIT, "observable_updowncounter", "By",
            "Total GPU memory of the device (NVML memory info total).",
            (ATTR_GPU_ORDINAL, ATTR_RANK, ATTR_HW_ID, ATTR_HW_MODEL, ATTR_HW_TYPE, ATTR_HW_VENDOR),
        ),
        MetricSpec(
            METRIC_HW_GPU_MEMORY_USAGE, "observable_updowncounter", "By",
            "GPU memory in use, all processes on the device (NVML memory info used).",
            (ATTR_GPU_ORDINAL, ATTR_RANK, ATTR_HW_ID, ATTR_HW_MODEL, ATTR_HW_TYPE, ATTR_HW_VENDOR),
        ),
        MetricSpec(
            METRIC_HW_GPU_MEMORY_UTILIZATION, "observable_gauge", "1",
            "Fraction of the GPU's memory in use (NVML memory info used / total).",
            (ATTR_GPU_ORDINAL, ATTR_RANK, ATTR_HW_ID, ATTR_HW_MODEL, ATTR_HW_TYPE, ATTR_HW_VENDOR),
        ),
        MetricSpec(
            METRIC_HW_GPU_UTILIZATION, "observable_gauge", "1",
            "Fraction of time the GPU was busy over the last sample period (NVML utilization.gpu / 100).",
            (ATTR_GPU_ORDINAL, ATTR_RANK, ATTR_HW_ID, ATTR_HW_MODEL, ATTR_HW_TYPE, ATTR_HW_VENDOR),
        ),
        MetricSpec(
            METRIC_HW_POWER, "observable_gauge", "W",
            "Instantaneous power drawn by the component; hw.type=gpu for GPUs (NVML power usage).",
            (ATTR_GPU_ORDINAL, ATTR_RANK, ATTR_HW_ID, ATTR_HW_MODEL, ATTR_HW_TYPE, ATTR_HW_VENDOR),
        ),
        MetricSpec(
            METRIC_HW_TEMPERATURE, "observable_gauge", "Cel",
            "Temperature of the component; hw.type=gpu for GPUs (NVML GPU temperature).",
            (ATTR_GPU_ORDINAL, ATTR_RANK, ATTR_HW_ID, ATTR_HW_MODEL, ATTR_HW_TYPE, ATTR_HW_VENDOR),
        ),
        MetricSpec(
            METRIC_PROCESS_CPU_UTILIZATION, "observable_gauge", "1",
            "CPU time of this process since the last reading, divided by elapsed time and CPUs available.",
            (ATTR_RANK, ATTR_CPU_MODE),
        ),
        MetricSpec(
            METRIC_PROCESS_MEMORY_USAGE, "observable_updowncounter", "By",
            "Resident memory of this process (RSS).", (ATTR_RANK,),
        ),
        MetricSpec(
            METRIC_SYSTEM_CPU_UTILIZATION, "observable_gauge", "1",
            "Fraction of host CPU time spent in each mode since the last reading.",
            (ATTR_RANK, ATTR_CPU_MODE),
        ),
        MetricSpec(
            METRIC_SYSTEM_MEMORY_USAGE, "observable_updowncounter", "By",
            "Memory in use on the host (total minus available).", (ATTR_RANK,),
        ),
    )
}

# Namespaces of template attributes, longest first, with a trailing ".".
_TEMPLATE_NAMESPACES: tuple[tuple[str, str], ...] = tuple(
    sorted(
        (
            (name + ".", spec.privacy)
            for name, spec in ATTRIBUTES.items()
            if spec.type.startswith("template[")
        ),
        key=lambda item: (-len(item[0]), item[0]),
    )
)
_TEMPLATE_PREFIXES: tuple[str, ...] = tuple(prefix for prefix, _ in _TEMPLATE_NAMESPACES)
_EVENT_NAMES: frozenset[str] = frozenset(name for name, spec in EVENTS.items() if spec.pattern is None)
_EVENT_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    spec.pattern for spec in EVENTS.values() if spec.pattern is not None
)


def attribute_privacy(key: str) -> str | None:
    """Privacy class of `key`: its own, else its longest template namespace's; None if unregistered."""
    spec = ATTRIBUTES.get(key)
    if spec is not None:
        return spec.privacy
    if key.startswith(_TEMPLATE_PREFIXES):
        for prefix, privacy in _TEMPLATE_NAMESPACES:
            if key.startswith(prefix):
                return privacy
    return None


def is_registered_attribute(key: str) -> bool:
    return attribute_privacy(key) is not None


def is_registered_span(name: str) -> bool:
    return name in SPANS


def is_registered_event(name: str) -> bool:
    """True for a registered event name, or a name matching a registered family's pattern."""
    return name in _EVENT_NAMES or any(pattern.fullmatch(name) for pattern in _EVENT_PATTERNS)


def is_registered_metric(name: str) -> bool:
    return name in METRICS
