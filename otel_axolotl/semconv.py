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
    ATTR_CHECKPOINT_STEP: AttributeSpec(
        name=ATTR_CHECKPOINT_STEP,
        type="int",
        privacy="public",
        brief="Global step of a saved checkpoint (never its path).",
        examples=(500,),
    ),
    ATTR_CONFIG: AttributeSpec(
        name=ATTR_CONFIG,
        type="template[string]",
        privacy="open",
        brief=(
            "The redacted training configuration, flattened (`axolotl.config.<key>`). In events the same "
            "content travels as the event body."
        ),
        examples=("axolotl.config.learning_rate=0.0002",),
    ),
    ATTR_EPOCH: AttributeSpec(
        name=ATTR_EPOCH,
        type="int",
        privacy="public",
        brief="Zero-based index of the epoch a span covers.",
        examples=(0,),
    ),
    ATTR_EVAL_LOSS: AttributeSpec(
        name=ATTR_EVAL_LOSS,
        type="double",
        privacy="public",
        brief="Evaluation loss reported by an evaluation.",
        examples=(2.31,),
    ),
    ATTR_EVAL_METRIC_NAME: AttributeSpec(
        name=ATTR_EVAL_METRIC_NAME,
        type="string",
        privacy="public",
        brief=(
            "Which evaluation metric a point of axolotl.eval.metric is: the trainer's key without its eval_ "
            "prefix, kept only when it looks like an identifier (letters, digits, _ . / -, at most 64 "
            "characters) and only for the first 32 distinct names of a run."
        ),
        examples=("loss", "accuracy", "runtime", "samples_per_second"),
    ),
    ATTR_EVENT: AttributeSpec(
        name=ATTR_EVENT,
        type="template[string]",
        privacy="open",
        brief=(
            "Properties of an event sent with send_event (`axolotl.event.<key>`); in events they travel as "
            "the event body."
        ),
        examples=("axolotl.event.message=hello",),
    ),
    ATTR_GPU_ORDINAL: AttributeSpec(
        name=ATTR_GPU_ORDINAL,
        type="int",
        privacy="public",
        brief=(
            "The device's CUDA ordinal as this process sees it (what cuda:N means to torch); the NVML index "
            "on the node with OTEL_AXOLOTL_GPUS=all."
        ),
        examples=(0,),
    ),
    ATTR_LIBRARY_NAME: AttributeSpec(
        name=ATTR_LIBRARY_NAME,
        type="string",
        privacy="public",
        brief="The host library that embeds otel-axolotl (set by the library in code).",
        examples=("axolotl",),
    ),
    ATTR_LIBRARY_VERSION: AttributeSpec(
        name=ATTR_LIBRARY_VERSION,
        type="string",
        privacy="public",
        brief="Version of the host library.",
        examples=("0.12.0",),
    ),
    ATTR_LOCAL_RANK: AttributeSpec(
        name=ATTR_LOCAL_RANK,
        type="int",
        privacy="public",
        brief="Rank of the process on its node.",
        examples=(0,),
    ),
    ATTR_PRIVACY_LEVEL: AttributeSpec(
        name=ATTR_PRIVACY_LEVEL,
        type="string",
        privacy="public",
        brief="Privacy level the item was scrubbed at.",
        examples=("strict", "secrets-only"),
    ),
    ATTR_PRIVACY_REDACTIONS: AttributeSpec(
        name=ATTR_PRIVACY_REDACTIONS,
        type="int",
        privacy="public",
        brief="How many values the privacy stage redacted in this span or event (never what).",
        examples=(3,),
    ),
    ATTR_RANK: AttributeSpec(
        name=ATTR_RANK,
        type="int",
        privacy="public",
        brief="Global rank of the process (0 for single-process runs).",
        examples=(0,),
    ),
    ATTR_RUN_ID: AttributeSpec(
        name=ATTR_RUN_ID,
        type="string",
        privacy="public",
        brief="Anonymous random id of the run (32 hex digits); equal to the run's trace id.",
        examples=("4bf92f3577b34da6a3ce929d0e0e4736",),
    ),
    ATTR_RUN_STATUS: AttributeSpec(
        name=ATTR_RUN_STATUS,
        type="string",
        privacy="public",
        brief="How the run ended.",
        examples=("completed", "failed", "interrupted"),
    ),
    ATTR_STEP: AttributeSpec(
        name=ATTR_STEP,
        type="int",
        privacy="public",
        brief="Global optimizer step at which something happened.",
        examples=(120,),
    ),
    ATTR_TELEMETRY_DESTINATION: AttributeSpec(
        name=ATTR_TELEMETRY_DESTINATION,
        type="string",
        privacy="public",
        brief="Destination that spans or events were meant for.",
        examples=("otlp", "posthog"),
    ),
    ATTR_TELEMETRY_SIGNAL: AttributeSpec(
        name=ATTR_TELEMETRY_SIGNAL,
        type="string",
        privacy="public",
        brief="Kind of telemetry (OpenTelemetry signal name).",
        examples=("traces", "logs"),
    ),
    ATTR_TRAIN_BATCH_SIZE: AttributeSpec(
        name=ATTR_TRAIN_BATCH_SIZE,
        type="int",
        privacy="public",
        brief="Per-device train batch size.",
        examples=(8,),
    ),
    ATTR_TRAIN_GRADIENT_ACCUMULATION_STEPS: AttributeSpec(
        name=ATTR_TRAIN_GRADIENT_ACCUMULATION_STEPS,
        type="int",
        privacy="public",
        brief="Gradient accumulation steps.",
        examples=(4,),
    ),
    ATTR_TRAIN_MAX_STEPS: AttributeSpec(
        name=ATTR_TRAIN_MAX_STEPS,
        type="int",
        privacy="public",
        brief="Total optimizer steps the run is planned for.",
        examples=(1000,),
    ),
    ATTR_TRAIN_NUM_EPOCHS: AttributeSpec(
        name=ATTR_TRAIN_NUM_EPOCHS,
        type="double",
        privacy="public",
        brief="Number of epochs the run is planned for.",
        examples=(3.0,),
    ),
    ATTR_TRAIN_SUMMARY_LOSS: AttributeSpec(
        name=ATTR_TRAIN_SUMMARY_LOSS,
        type="double",
        privacy="public",
        brief="Mean training loss over the whole run, as the trainer reports it when training ends.",
        examples=(2.05,),
    ),
    ATTR_TRAIN_SUMMARY_RUNTIME: AttributeSpec(
        name=ATTR_TRAIN_SUMMARY_RUNTIME,
        type="double",
        privacy="public",
        brief="Training time in seconds, as the trainer reports it when training ends.",
        examples=(512.3,),
    ),
    ATTR_TRAIN_SUMMARY_SAMPLES_PER_SECOND: AttributeSpec(
        name=ATTR_TRAIN_SUMMARY_SAMPLES_PER_SECOND,
        type="double",
        privacy="public",
        brief="Mean training throughput in samples per second over the whole run.",
        examples=(31.2,),
    ),
    ATTR_TRAIN_SUMMARY_STEPS_PER_SECOND: AttributeSpec(
        name=ATTR_TRAIN_SUMMARY_STEPS_PER_SECOND,
        type="double",
        privacy="public",
        brief="Mean optimizer steps per second over the whole run.",
        examples=(3.9,),
    ),
    ATTR_TRAIN_SUMMARY_TOKENS_PER_SECOND: AttributeSpec(
        name=ATTR_TRAIN_SUMMARY_TOKENS_PER_SECOND,
        type="double",
        privacy="public",
        brief=(
            "Mean training throughput in tokens per second over the whole run (when the trainer counts "
            "tokens)."
        ),
        examples=(4096.0,),
    ),
    ATTR_TRAIN_SUMMARY_TOTAL_FLOS: AttributeSpec(
        name=ATTR_TRAIN_SUMMARY_TOTAL_FLOS,
        type="double",
        privacy="public",
        brief="Floating-point operations of the whole run, as the trainer estimates them.",
        examples=("1.2e15",),
    ),
    ATTR_TRAINER: AttributeSpec(
        name=ATTR_TRAINER,
        type="string",
        privacy="public",
        brief="Which integration produced the telemetry.",
        examples=("transformers", "lightning", "loop"),
    ),
    ATTR_WINDOW_LOSS_LAST: AttributeSpec(
        name=ATTR_WINDOW_LOSS_LAST,
        type="double",
        privacy="public",
        brief="Last training loss logged in the window (absent when none was logged).",
        examples=(2.27,),
    ),
    ATTR_WINDOW_LOSS_MEAN: AttributeSpec(
        name=ATTR_WINDOW_LOSS_MEAN,
        type="double",
        privacy="public",
        brief="Mean of the training losses logged in the window (absent when none was logged).",
        examples=(2.31,),
    ),
    ATTR_WINDOW_STEP_FIRST: AttributeSpec(
        name=ATTR_WINDOW_STEP_FIRST,
        type="int",
        privacy="public",
        brief="First global optimizer step a window span covers.",
        examples=(101,),
    ),
    ATTR_WINDOW_STEP_LAST: AttributeSpec(
        name=ATTR_WINDOW_STEP_LAST,
        type="int",
        privacy="public",
        brief="Last global optimizer step a window span covers.",
        examples=(200,),
    ),
    ATTR_WINDOW_STEPS: AttributeSpec(
        name=ATTR_WINDOW_STEPS,
        type="int",
        privacy="public",
        brief="Optimizer steps in the window.",
        examples=(100,),
    ),
    ATTR_WINDOW_STEPS_PER_SECOND: AttributeSpec(
        name=ATTR_WINDOW_STEPS_PER_SECOND,
        type="double",
        privacy="public",
        brief="Optimizer steps per second over the window.",
        examples=(4.2,),
    ),
    ATTR_WORLD_SIZE: AttributeSpec(
        name=ATTR_WORLD_SIZE,
        type="int",
        privacy="public",
        brief="Number of processes in the run.",
        examples=(8,),
    ),
    ATTR_CODE_FUNCTION_NAME: AttributeSpec(
        name=ATTR_CODE_FUNCTION_NAME,
        type="string",
        privacy="public",
        brief="The function that reported an error through send_errors.",
        examples=("axolotl.train.train",),
    ),
    ATTR_CPU_MODE: AttributeSpec(
        name=ATTR_CPU_MODE,
        type="string",
        privacy="public",
        brief="",
        examples=("user", "system"),
    ),
    ATTR_ERROR_TYPE: AttributeSpec(
        name=ATTR_ERROR_TYPE,
        type="string",
        privacy="public",
        brief=(
            "Fully qualified exception class (builtins short: ValueError), or a drop reason on "
            "axolotl.telemetry.dropped."
        ),
        examples=("RuntimeError",),
    ),
    ATTR_EXCEPTION_MESSAGE: AttributeSpec(
        name=ATTR_EXCEPTION_MESSAGE,
        type="string",
        privacy="open",
        brief="After the value rules.",
        examples=("CUDA out of memory. Tried to allocate 2.00 GiB",),
    ),
    ATTR_EXCEPTION_STACKTRACE: AttributeSpec(
        name=ATTR_EXCEPTION_STACKTRACE,
        type="string",
        privacy="open",
        brief="Package-relative frames kept, every other path reduced to its file name.",
        examples=('File "site-packages/transformers/trainer.py", line 2240, in train',),
    ),
    ATTR_EXCEPTION_TYPE: AttributeSpec(
        name=ATTR_EXCEPTION_TYPE,
        type="string",
        privacy="public",
        brief="",
        examples=("torch.OutOfMemoryError",),
    ),
    ATTR_GEN_AI_REQUEST_MODEL: AttributeSpec(
        name=ATTR_GEN_AI_REQUEST_MODEL,
        type="string",
        privacy="whitelisted-name",
        brief="",
        examples=("meta-llama/Llama-3.1-8B",),
    ),
    ATTR_HOST_ARCH: AttributeSpec(
        name=ATTR_HOST_ARCH,
        type="string",
        privacy="public",
        brief="",
        examples=("amd64",),
    ),
    ATTR_HOST_NAME: AttributeSpec(
        name=ATTR_HOST_NAME,
        type="string",
        privacy="never",
        brief=(
            "Listed so that nobody adds it; a user who sets it through OTEL_RESOURCE_ATTRIBUTES still never "
            "sends it."
        ),
        examples=("gpu-node-17",),
    ),
    ATTR_HW_ID: AttributeSpec(
        name=ATTR_HW_ID,
        type="string",
        privacy="redacted",
        brief=(
            "The GPU UUID (NVML nvmlDeviceGetUUID, as DCGM and nvidia-smi show it), else its CUDA ordinal "
            "when NVML cannot read the UUID. It identifies a physical GPU, so strict replaces it "
            "(axolotl.gpu.ordinal keeps the series apart); secrets-only keeps it, to join with DCGM."
        ),
        examples=("GPU-5fa4a8e2-3c1d-7b9e-0f12-a3b4c5d6e7f8",),
    ),
    ATTR_HW_MODEL: AttributeSpec(
        name=ATTR_HW_MODEL,
        type="string",
        privacy="public",
        brief="NVML nvmlDeviceGetName.",
        examples=("NVIDIA H100 80GB HBM3",),
    ),
    ATTR_HW_TYPE: AttributeSpec(
        name=ATTR_HW_TYPE,
        type="string",
        privacy="public",
        brief="On power and temperature readings.",
        examples=("gpu",),
    ),
    ATTR_HW_VENDOR: AttributeSpec(
        name=ATTR_HW_VENDOR,
        type="string",
        privacy="public",
        brief="",
        examples=("nvidia",),
    ),
    ATTR_OS_TYPE: AttributeSpec(
        name=ATTR_OS_TYPE,
        type="string",
        privacy="public",
        brief="",
        examples=("linux",),
    ),
    ATTR_PROCESS_COMMAND_LINE: AttributeSpec(
        name=ATTR_PROCESS_COMMAND_LINE,
        type="string",
        privacy="never",
        brief="Never emitted.",
        examples=("python train.py --token hf_...",),
    ),
    ATTR_PROCESS_RUNTIME_NAME: AttributeSpec(
        name=ATTR_PROCESS_RUNTIME_NAME,
        type="string",
        privacy="public",
        brief="",
        examples=("cpython",),
    ),
    ATTR_PROCESS_RUNTIME_VERSION: AttributeSpec(
        name=ATTR_PROCESS_RUNTIME_VERSION,
        type="string",
        privacy="public",
        brief="",
        examples=("3.11.7",),
    ),
    ATTR_SERVICE_INSTANCE_ID: AttributeSpec(
        name=ATTR_SERVICE_INSTANCE_ID,
        type="string",
        privacy="public",
        brief="Resource; random per process.",
        examples=("627cc493-f310-47de-96bd-71410b7dec09",),
    ),
    ATTR_SERVICE_NAME: AttributeSpec(
        name=ATTR_SERVICE_NAME,
        type="string",
        privacy="public",
        brief=(
            "Resource. OTEL_SERVICE_NAME, else service.name in OTEL_RESOURCE_ATTRIBUTES, else the global "
            "TracerProvider's, else otel-axolotl; never sent to product analytics when the user set it."
        ),
        examples=("otel-axolotl",),
    ),
    ATTR_SERVICE_VERSION: AttributeSpec(
        name=ATTR_SERVICE_VERSION,
        type="string",
        privacy="public",
        brief="",
        examples=("0.1.0",),
    ),
    ATTR_TELEMETRY_DISTRO_NAME: AttributeSpec(
        name=ATTR_TELEMETRY_DISTRO_NAME,
        type="string",
        privacy="public",
        brief="",
        examples=("otel-axolotl",),
    ),
    ATTR_TELEMETRY_DISTRO_VERSION: AttributeSpec(
        name=ATTR_TELEMETRY_DISTRO_VERSION,
        type="string",
        privacy="public",
        brief="",
        examples=("0.1.0",),
    ),
    ATTR_TELEMETRY_SDK_LANGUAGE: AttributeSpec(
        name=ATTR_TELEMETRY_SDK_LANGUAGE,
        type="string",
        privacy="public",
        brief="",
        examples=("python",),
    ),
    ATTR_TELEMETRY_SDK_NAME: AttributeSpec(
        name=ATTR_TELEMETRY_SDK_NAME,
        type="string",
        privacy="public",
        brief="",
        examples=("opentelemetry",),
    ),
    ATTR_TELEMETRY_SDK_VERSION: AttributeSpec(
        name=ATTR_TELEMETRY_SDK_VERSION,
        type="string",
        privacy="public",
        brief="",
        examples=("1.45.2",),
    ),
    ATTR_USER_NAME: AttributeSpec(
        name=ATTR_USER_NAME,
        type="string",
        privacy="never",
        brief="Never emitted.",
        examples=("alice",),
    ),
}

OPEN_NAMESPACES: tuple[str, ...] = (ATTR_CONFIG, ATTR_EVENT)

SPANS: dict[str, SpanSpec] = {
    SPAN_CHECKPOINT_SAVE: SpanSpec(
        name=SPAN_CHECKPOINT_SAVE,
        brief="Saving one checkpoint.",
        attributes=(ATTR_CHECKPOINT_STEP,),
    ),
    SPAN_CONFIG_LOAD: SpanSpec(
        name=SPAN_CONFIG_LOAD,
        brief="Loading and validating the training configuration (host library, through the loop API).",
        attributes=(),
    ),
    SPAN_EPOCH: SpanSpec(
        name=SPAN_EPOCH,
        brief="One epoch of training.",
        attributes=(ATTR_EPOCH,),
    ),
    SPAN_EVALUATE: SpanSpec(
        name=SPAN_EVALUATE,
        brief="One evaluation pass.",
        attributes=(ATTR_EVAL_LOSS, ATTR_STEP),
    ),
    SPAN_MODEL_LOAD: SpanSpec(
        name=SPAN_MODEL_LOAD,
        brief="Loading the model and tokenizer (host library, through the loop API).",
        attributes=(ATTR_GEN_AI_REQUEST_MODEL,),
    ),
    SPAN_RUN: SpanSpec(
        name=SPAN_RUN,
        brief=(
            "The whole training run (one trace per run, every rank); a child of the user's active span or of "
            "TRACEPARENT when there is one, else the root of a trace whose id is the run id."
        ),
        attributes=(
            ATTR_RANK,
            ATTR_RUN_ID,
            ATTR_RUN_STATUS,
            ATTR_TRAIN_BATCH_SIZE,
            ATTR_TRAIN_GRADIENT_ACCUMULATION_STEPS,
            ATTR_TRAIN_MAX_STEPS,
            ATTR_TRAIN_NUM_EPOCHS,
            ATTR_TRAIN_SUMMARY_LOSS,
            ATTR_TRAIN_SUMMARY_RUNTIME,
            ATTR_TRAIN_SUMMARY_SAMPLES_PER_SECOND,
            ATTR_TRAIN_SUMMARY_STEPS_PER_SECOND,
            ATTR_TRAIN_SUMMARY_TOKENS_PER_SECOND,
            ATTR_TRAIN_SUMMARY_TOTAL_FLOS,
            ATTR_TRAINER,
            ATTR_WORLD_SIZE,
            ATTR_ERROR_TYPE,
            ATTR_GEN_AI_REQUEST_MODEL,
        ),
    ),
    SPAN_STEP: SpanSpec(
        name=SPAN_STEP,
        brief="One optimizer step; only when OTEL_AXOLOTL_STEP_SPANS samples it (off by default).",
        attributes=(ATTR_STEP,),
    ),
    SPAN_WINDOW: SpanSpec(
        name=SPAN_WINDOW,
        brief=(
            "A bounded stretch of training (OTEL_AXOLOTL_WINDOW_STEPS steps or OTEL_AXOLOTL_WINDOW_SECONDS "
            "seconds, whichever first), a child of its epoch: sent as it ends, so a trace fills in while the "
            "run goes on and keeps all but the last window after a kill."
        ),
        attributes=(
            ATTR_WINDOW_LOSS_LAST,
            ATTR_WINDOW_LOSS_MEAN,
            ATTR_WINDOW_STEP_FIRST,
            ATTR_WINDOW_STEP_LAST,
            ATTR_WINDOW_STEPS,
            ATTR_WINDOW_STEPS_PER_SECOND,
        ),
    ),
}

EVENTS: dict[str, EventSpec] = {
    "<module>.<function>-error": EventSpec(
        name="<module>.<function>-error",
        brief=(
            "A sanitized error reported by send_errors or the excepthook; named after the reporting function "
            "as Axolotl does. Body keys (Axolotl 0.21.0's): exception (type, module), stack_trace.frames "
            "(filename reduced by the stack-trace rule, function, lineno); no message."
        ),
        attributes=(
            ATTR_CODE_FUNCTION_NAME,
            ATTR_EXCEPTION_MESSAGE,
            ATTR_EXCEPTION_STACKTRACE,
            ATTR_EXCEPTION_TYPE,
        ),
        pattern=EVENT_ERROR_PATTERN,
    ),
    EVENT_CONFIG_LOADED: EventSpec(
        name=EVENT_CONFIG_LOADED,
        brief="The redacted training configuration, once per run. Body is the open namespace axolotl.config.",
        attributes=(),
    ),
    EVENT_CONFIG_PROCESSED: EventSpec(
        name=EVENT_CONFIG_PROCESSED,
        brief=(
            "Axolotl's event: the configuration after Axolotl normalised it (redacted like config-loaded). "
            "Body is the open namespace axolotl.config."
        ),
        attributes=(),
    ),
    EVENT_EXCEPTION: EventSpec(
        name=EVENT_EXCEPTION,
        brief="OpenTelemetry's exception span event, recorded on the current span when an error is reported.",
        attributes=(ATTR_EXCEPTION_MESSAGE, ATTR_EXCEPTION_STACKTRACE, ATTR_EXCEPTION_TYPE),
    ),
    EVENT_FUSED_ROPE_AUTOTUNE: EventSpec(
        name=EVENT_FUSED_ROPE_AUTOTUNE,
        brief="Axolotl's event: the fused RoPE kernel's autotune result.",
        attributes=(),
    ),
    EVENT_MODEL_LOAD: EventSpec(
        name=EVENT_MODEL_LOAD,
        brief="Axolotl's event: a model was loaded (its type and the whitelisted model name).",
        attributes=(),
    ),
    EVENT_PEFT_CONFIG_LOAD: EventSpec(
        name=EVENT_PEFT_CONFIG_LOAD,
        brief="Axolotl's event: an adapter (PEFT) configuration was loaded.",
        attributes=(),
    ),
    EVENT_SONICMOE_AUTOTUNE: EventSpec(
        name=EVENT_SONICMOE_AUTOTUNE,
        brief="Axolotl's event: the SonicMoE kernel's autotune result.",
        attributes=(),
    ),
    EVENT_SYSTEM_INFO: EventSpec(
        name=EVENT_SYSTEM_INFO,
        brief=(
            "Operating system, Python and package versions, CPU count, total memory, accelerator type, count "
            "and models; once per run, after config-loaded or else at train start. No host name, user, path "
            "or serial number."
        ),
        attributes=(),
    ),
    EVENT_TRAIN_END: EventSpec(
        name=EVENT_TRAIN_END,
        brief=(
            "Training ended. Body keys (Axolotl 0.21.0's): total_time_seconds, total_steps, "
            "steps_per_second, epochs_completed, peak_cpu_memory_bytes, epoch_times (epoch_<n>_seconds), "
            "average_epoch_time_seconds, gpu_memory (gpu_<i>_peak_memory_bytes, gpu_<i>_peak_memory_source), "
            "step, start_step, aggregate (train_loss, the run mean), latest_step (the latest logged metrics "
            "and their metric_steps)."
        ),
        attributes=(ATTR_RUN_STATUS, ATTR_STEP),
    ),
    EVENT_TRAIN_PROGRESS: EventSpec(
        name=EVENT_TRAIN_PROGRESS,
        brief=(
            "Periodic progress, by Axolotl 0.21.0's rule: at the run's first step, then "
            "OTEL_AXOLOTL_PROGRESS_STEPS steps after the last report, or earlier at a multiple of it once "
            "OTEL_AXOLOTL_PROGRESS_SECONDS have passed. Body keys (Axolotl's): the latest value of each "
            "logged metric among loss, ppl, learning_rate, grad_norm, tokens/total, tokens/trainable, "
            "tokens/train_per_sec_per_gpu (only once logged), metric_steps (the step each was logged at), "
            "start_step, step, epoch, progress, steps_per_second, elapsed_time, time_since_last_report, "
            "memory (cpu_memory_bytes, peak_cpu_memory_bytes, gpu_<i>_memory_bytes, "
            "gpu_<i>_peak_memory_bytes, gpu_<i>_peak_memory_source)."
        ),
        attributes=(ATTR_STEP,),
    ),
    EVENT_TRAIN_START: EventSpec(
        name=EVENT_TRAIN_START,
        brief="Training began.",
        attributes=(ATTR_TRAIN_MAX_STEPS, ATTR_TRAIN_NUM_EPOCHS),
    ),
    EVENT_TRITON_AUTOTUNE: EventSpec(
        name=EVENT_TRITON_AUTOTUNE,
        brief="Axolotl's event: a Triton kernel autotune result (kernel and configuration options).",
        attributes=(),
    ),
}

METRICS: dict[str, MetricSpec] = {
    METRIC_EVAL_LOSS: MetricSpec(
        name=METRIC_EVAL_LOSS,
        instrument="gauge",
        unit="{loss}",
        brief="Evaluation loss of the latest evaluation.",
        attributes=(ATTR_RANK,),
    ),
    METRIC_EVAL_METRIC: MetricSpec(
        name=METRIC_EVAL_METRIC,
        instrument="gauge",
        unit="1",
        brief=(
            "Every numeric metric of the latest evaluation (eval_loss, eval_accuracy, eval_runtime, ...), "
            "one point per metric, told apart by axolotl.eval.metric.name; the metric name itself is fixed, "
            "so no user key ever becomes a metric name."
        ),
        attributes=(ATTR_EVAL_METRIC_NAME, ATTR_RANK),
    ),
    METRIC_TELEMETRY_DROPPED: MetricSpec(
        name=METRIC_TELEMETRY_DROPPED,
        instrument="observable_counter",
        unit="{item}",
        brief=(
            "Spans and events lost before delivery, by reason (error.type): queue_full (the destination's "
            "bounded queue refused it), spool_full (deleted from the on-disk spool to keep its size cap), "
            "undelivered (not delivered and not kept: spool off, unwritable, or given up after repeated "
            "failures), shutdown (arrived after shutdown)."
        ),
        attributes=(ATTR_TELEMETRY_DESTINATION, ATTR_TELEMETRY_SIGNAL, ATTR_ERROR_TYPE),
    ),
    METRIC_TORCH_MEMORY_ALLOCATED: MetricSpec(
        name=METRIC_TORCH_MEMORY_ALLOCATED,
        instrument="observable_gauge",
        unit="By",
        brief=(
            "PyTorch allocator figure torch.cuda.memory_allocated; only once the program has imported torch "
            "and initialised CUDA itself."
        ),
        attributes=(ATTR_GPU_ORDINAL, ATTR_RANK, ATTR_HW_ID),
    ),
    METRIC_TORCH_MEMORY_RESERVED: MetricSpec(
        name=METRIC_TORCH_MEMORY_RESERVED,
        instrument="observable_gauge",
        unit="By",
        brief=(
            "PyTorch allocator figure torch.cuda.memory_reserved; only once the program has imported torch "
            "and initialised CUDA itself."
        ),
        attributes=(ATTR_GPU_ORDINAL, ATTR_RANK, ATTR_HW_ID),
    ),
    METRIC_TRAIN_EPOCH: MetricSpec(
        name=METRIC_TRAIN_EPOCH,
        instrument="gauge",
        unit="{epoch}",
        brief="Fractional epoch reached.",
        attributes=(ATTR_RANK,),
    ),
    METRIC_TRAIN_GRAD_NORM: MetricSpec(
        name=METRIC_TRAIN_GRAD_NORM,
        instrument="gauge",
        unit="{norm}",
        brief="Gradient norm as last logged.",
        attributes=(ATTR_RANK,),
    ),
    METRIC_TRAIN_LEARNING_RATE: MetricSpec(
        name=METRIC_TRAIN_LEARNING_RATE,
        instrument="gauge",
        unit="{rate}",
        brief="Learning rate as last logged.",
        attributes=(ATTR_RANK,),
    ),
    METRIC_TRAIN_LOSS: MetricSpec(
        name=METRIC_TRAIN_LOSS,
        instrument="gauge",
        unit="{loss}",
        brief=(
            "Training loss of the latest logged step (the trainer's closing run mean is not a step loss: it "
            "goes to axolotl.train.summary.loss on the run span)."
        ),
        attributes=(ATTR_RANK,),
    ),
    METRIC_TRAIN_STEP_DURATION: MetricSpec(
        name=METRIC_TRAIN_STEP_DURATION,
        instrument="histogram",
        unit="s",
        brief="Wall time of one optimizer step.",
        attributes=(ATTR_RANK,),
    ),
    METRIC_TRAIN_STEPS: MetricSpec(
        name=METRIC_TRAIN_STEPS,
        instrument="observable_counter",
        unit="{step}",
        brief="Optimizer steps completed.",
        attributes=(ATTR_RANK,),
    ),
    METRIC_TRAIN_THROUGHPUT_SAMPLES: MetricSpec(
        name=METRIC_TRAIN_THROUGHPUT_SAMPLES,
        instrument="gauge",
        unit="{sample}/s",
        brief="Samples per second, as reported by the trainer.",
        attributes=(ATTR_RANK,),
    ),
    METRIC_TRAIN_THROUGHPUT_TOKENS: MetricSpec(
        name=METRIC_TRAIN_THROUGHPUT_TOKENS,
        instrument="gauge",
        unit="{token}/s",
        brief="Tokens per second, where the trainer reports it.",
        attributes=(ATTR_RANK,),
    ),
    METRIC_HW_ENERGY: MetricSpec(
        name=METRIC_HW_ENERGY,
        instrument="observable_counter",
        unit="J",
        brief=(
            "Energy the GPU consumed since the driver was loaded (NVML total energy consumption, mJ / 1000); "
            "only from GPUs that report it (Volta and newer). Upstream: OpenTelemetry semantic conventions, "
            "hardware metrics (https://opentelemetry.io/docs/specs/semconv/hardware/common/)."
        ),
        attributes=(ATTR_GPU_ORDINAL, ATTR_RANK, ATTR_HW_ID, ATTR_HW_MODEL, ATTR_HW_TYPE, ATTR_HW_VENDOR),
    ),
    METRIC_HW_GPU_MEMORY_LIMIT: MetricSpec(
        name=METRIC_HW_GPU_MEMORY_LIMIT,
        instrument="observable_updowncounter",
        unit="By",
        brief="Total GPU memory of the device (NVML memory info total).",
        attributes=(ATTR_GPU_ORDINAL, ATTR_RANK, ATTR_HW_ID, ATTR_HW_MODEL, ATTR_HW_TYPE, ATTR_HW_VENDOR),
    ),
    METRIC_HW_GPU_MEMORY_USAGE: MetricSpec(
        name=METRIC_HW_GPU_MEMORY_USAGE,
        instrument="observable_updowncounter",
        unit="By",
        brief="GPU memory in use, all processes on the device (NVML memory info used).",
        attributes=(ATTR_GPU_ORDINAL, ATTR_RANK, ATTR_HW_ID, ATTR_HW_MODEL, ATTR_HW_TYPE, ATTR_HW_VENDOR),
    ),
    METRIC_HW_GPU_MEMORY_UTILIZATION: MetricSpec(
        name=METRIC_HW_GPU_MEMORY_UTILIZATION,
        instrument="observable_gauge",
        unit="1",
        brief="Fraction of the GPU's memory in use (NVML memory info used / total).",
        attributes=(ATTR_GPU_ORDINAL, ATTR_RANK, ATTR_HW_ID, ATTR_HW_MODEL, ATTR_HW_TYPE, ATTR_HW_VENDOR),
    ),
    METRIC_HW_GPU_UTILIZATION: MetricSpec(
        name=METRIC_HW_GPU_UTILIZATION,
        instrument="observable_gauge",
        unit="1",
        brief="Fraction of time the GPU was busy over the last sample period (NVML utilization.gpu / 100).",
        attributes=(ATTR_GPU_ORDINAL, ATTR_RANK, ATTR_HW_ID, ATTR_HW_MODEL, ATTR_HW_TYPE, ATTR_HW_VENDOR),
    ),
    METRIC_HW_POWER: MetricSpec(
        name=METRIC_HW_POWER,
        instrument="observable_gauge",
        unit="W",
        brief="Instantaneous power drawn by the component; hw.type=gpu for GPUs (NVML power usage).",
        attributes=(ATTR_GPU_ORDINAL, ATTR_RANK, ATTR_HW_ID, ATTR_HW_MODEL, ATTR_HW_TYPE, ATTR_HW_VENDOR),
    ),
    METRIC_HW_TEMPERATURE: MetricSpec(
        name=METRIC_HW_TEMPERATURE,
        instrument="observable_gauge",
        unit="Cel",
        brief="Temperature of the component; hw.type=gpu for GPUs (NVML GPU temperature).",
        attributes=(ATTR_GPU_ORDINAL, ATTR_RANK, ATTR_HW_ID, ATTR_HW_MODEL, ATTR_HW_TYPE, ATTR_HW_VENDOR),
    ),
    METRIC_PROCESS_CPU_UTILIZATION: MetricSpec(
        name=METRIC_PROCESS_CPU_UTILIZATION,
        instrument="observable_gauge",
        unit="1",
        brief="CPU time of this process since the last reading, divided by elapsed time and CPUs available.",
        attributes=(ATTR_RANK, ATTR_CPU_MODE),
    ),
    METRIC_PROCESS_MEMORY_USAGE: MetricSpec(
        name=METRIC_PROCESS_MEMORY_USAGE,
        instrument="observable_updowncounter",
        unit="By",
        brief="Resident memory of this process (RSS).",
        attributes=(ATTR_RANK,),
    ),
    METRIC_SYSTEM_CPU_UTILIZATION: MetricSpec(
        name=METRIC_SYSTEM_CPU_UTILIZATION,
        instrument="observable_gauge",
        unit="1",
        brief="Fraction of host CPU time spent in each mode since the last reading.",
        attributes=(ATTR_RANK, ATTR_CPU_MODE),
    ),
    METRIC_SYSTEM_MEMORY_USAGE: MetricSpec(
        name=METRIC_SYSTEM_MEMORY_USAGE,
        instrument="observable_updowncounter",
        unit="By",
        brief="Memory in use on the host (total minus available).",
        attributes=(ATTR_RANK,),
    ),
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
