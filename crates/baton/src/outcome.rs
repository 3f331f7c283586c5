//! What a failed call leaves on its span, shared by the service crates.

use std::fmt::Display;

use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanRef, Status};

use crate::consts::attr;

/// The parts of a failed call that its span records: a message (the span status), the
/// service's error code if there is one (`error.type`, `_OTHER` otherwise), the request id
/// (`aws.request_id`) and the HTTP status (`http.response.status_code`, which tells an X-Ray
/// exporter a client error from a fault).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallError {
    message: String,
    code: Option<String>,
    request_id: Option<String>,
    status: Option<u16>,
}

impl CallError {
    /// An error with `message` and nothing else known.
    pub fn new(message: impl Into<String>) -> Self {
        CallError {
            message: message.into(),
            code: None,
            request_id: None,
            status: None,
        }
    }

    /// An error known only by its text.
    pub fn from_display(error: &dyn Display) -> Self {
        Self::new(error.to_string())
    }

    /// The call was dropped before it finished (a timeout, a cancelled task).
    pub fn cancelled() -> Self {
        Self::new("the call was cancelled before a response arrived").with_code("cancelled")
    }

    /// Sets the service's error code.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Sets the request id.
    pub fn with_request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }

    /// Sets the HTTP status the service answered with.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// From an AWS SDK error: its message, error code and request id.
    #[cfg(feature = "smithy")]
    pub fn from_metadata(
        error: &(impl aws_smithy_types::error::metadata::ProvideErrorMetadata + Display),
    ) -> Self {
        let meta = error.meta();
        let mut call_error = Self::new(
            meta.message()
                .map_or_else(|| error.to_string(), str::to_owned),
        );
        if let Some(code) = meta.code() {
            call_error = call_error.with_code(code);
        }
        // Where the SDKs keep the request id of an error.
        if let Some(id) = meta.extra("aws_request_id") {
            call_error = call_error.with_request_id(id);
        }
        call_error
    }

    /// Its `error.type`: the service's error code, `_OTHER` when there is none.
    pub fn error_type(&self) -> &str {
        self.code.as_deref().unwrap_or("_OTHER")
    }

    /// Puts the error on `span`: status, `error.type`, `aws.request_id`,
    /// `http.response.status_code`.
    pub fn record(&self, span: &SpanRef<'_>) {
        span.set_attribute(KeyValue::new(
            attr::ERROR_TYPE,
            self.error_type().to_owned(),
        ));
        if let Some(id) = &self.request_id {
            span.set_attribute(KeyValue::new(attr::AWS_REQUEST_ID, id.clone()));
        }
        if let Some(status) = self.status {
            span.set_attribute(KeyValue::new(
                attr::HTTP_RESPONSE_STATUS_CODE,
                i64::from(status),
            ));
        }
        span.set_status(Status::error(self.message.clone()));
    }
}
