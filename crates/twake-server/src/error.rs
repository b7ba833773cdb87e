//! The one table of public errors, shared by every route (OpenAI's shape:
//! `{"error": {"message", "type", "param", "code"}}`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use twake_core::CoreError;
use twake_llm::LlmError;

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub code: Option<&'static str>,
    pub param: Option<String>,
    pub message: String,
    /// Seconds for `Retry-After` (429 and 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn invalid(message: impl Into<String>, param: Option<&str>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            code: None,
            param: param.map(str::to_string),
            message: message.into(),
            retry_after: None,
        }
    }

    /// 413: the body is above the configured limit (`key`).
    pub fn too_large(limit: u64, key: &str) -> Self {
        ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            kind: "invalid_request_error",
            code: Some("request_too_large"),
            param: None,
            message: format!(
                "The request body is larger than {limit} bytes, this server's limit (`server.{key}`): \
                 send less, or ask the administrator to raise it."
            ),
            retry_after: None,
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            kind: "invalid_request_error",
            code: Some("invalid_api_key"),
            param: None,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::FORBIDDEN,
            kind: "invalid_request_error",
            code: Some("forbidden"),
            param: None,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 404 for a thing the caller cannot see, whether or not it exists.
    pub fn not_found(code: &'static str, param: &str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            kind: "invalid_request_error",
            code: Some(code),
            param: Some(param.into()),
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn model_not_found(model: &str) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            kind: "invalid_request_error",
            code: Some("model_not_found"),
            param: Some("model".into()),
            message: format!("The model `{model}` does not exist. GET /v1/models lists the available models."),
            retry_after: None,
        }
    }

    pub fn busy() -> Self {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            kind: "server_error",
            code: Some("model_busy"),
            param: None,
            message: "The model queue is full; retry in a moment.".into(),
            retry_after: Some(1),
        }
    }

    /// Every generation slot of the server is taken.
    pub fn server_busy(limit: u32) -> Self {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            kind: "server_error",
            code: Some("server_busy"),
            param: None,
            message: format!(
                "The server is already answering {limit} requests (`server.max_generations`); retry in a moment."
            ),
            retry_after: Some(10),
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "server_error",
            code: None,
            param: None,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn body(&self) -> serde_json::Value {
        json!({"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}})
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Llm(LlmError::Busy) => ApiError::busy(),
            CoreError::Llm(LlmError::PromptTooLong { .. }) => ApiError::invalid(e.to_string(), Some("messages")),
            CoreError::Llm(LlmError::Remote(_)) => ApiError {
                status: StatusCode::BAD_GATEWAY,
                kind: "server_error",
                code: Some("upstream_model_error"),
                param: None,
                message: e.to_string(),
                retry_after: None,
            },
            CoreError::Refused { message, audit_id } => ApiError {
                status: StatusCode::FORBIDDEN,
                kind: "policy_error",
                code: Some("sensitivity_refused"),
                param: None,
                message: format!("{message} (provenance record {audit_id})"),
                retry_after: None,
            },
            CoreError::Quota { message, retry_after } => ApiError {
                status: StatusCode::TOO_MANY_REQUESTS,
                kind: "insufficient_quota",
                code: Some("quota_exceeded"),
                param: None,
                message,
                retry_after: Some(retry_after.max(1)),
            },
            CoreError::NotFound(message) => ApiError {
                status: StatusCode::NOT_FOUND,
                kind: "invalid_request_error",
                code: Some("not_found"),
                param: None,
                message,
                retry_after: None,
            },
            other => {
                tracing::error!(target: "api", error = %other, "request failed");
                ApiError::internal(other.to_string())
            }
        }
    }
}

impl From<LlmError> for ApiError {
    fn from(e: LlmError) -> Self {
        ApiError::from(CoreError::Llm(e))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(self.body())).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        r
    }
}

/// Parses a JSON body into `T`, turning serde's message into a 400 that
/// names the field (`missing field `messages``).
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::invalid("The request body is empty; send a JSON object.", None));
    }
    serde_json::from_slice(body).map_err(|e| {
        let msg = e.to_string();
        let param = msg.split('`').nth(1).filter(|_| {
            msg.starts_with("missing field") || msg.starts_with("unknown field") || msg.contains("invalid type")
        });
        ApiError::invalid(format!("Invalid request body: {msg}"), param)
    })
}
