//! What a failed call leaves on its span.

use std::error::Error as StdError;
use std::fmt::Display;

use aws_sdk_sqs::operation::RequestId;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use baton::attr;
use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanRef, Status};

/// The parts of an error a span records: a message, the service's error code if there is one
/// (`error.type`), and the request id.
#[derive(Clone, Debug)]
pub(crate) struct ErrorInfo {
    message: String,
    code: Option<String>,
    request_id: Option<String>,
}

impl ErrorInfo {
    /// From an SDK error that carries AWS error metadata.
    pub(crate) fn from_metadata(error: &(impl ProvideErrorMetadata + Display)) -> Self {
        let meta = error.meta();
        ErrorInfo {
            message: meta
                .message()
                .map_or_else(|| error.to_string(), str::to_owned),
            code: meta.code().map(str::to_owned),
            request_id: meta.request_id().map(str::to_owned),
        }
    }

    /// From any error: the SQS service error is looked for behind boxes and sources (a tower
    /// layer may have boxed it); otherwise only the message is known.
    pub(crate) fn from_any(error: &(dyn StdError + 'static)) -> Self {
        let mut current: Option<&(dyn StdError + 'static)> = Some(error);
        while let Some(e) = current {
            if let Some(sqs) = e.downcast_ref::<aws_sdk_sqs::Error>() {
                return Self::from_metadata(sqs);
            }
            current = e.source();
        }
        ErrorInfo {
            message: error.to_string(),
            code: None,
            request_id: None,
        }
    }

    /// The call was dropped before it finished.
    pub(crate) fn cancelled() -> Self {
        ErrorInfo {
            message: "the call was cancelled before a response arrived".to_owned(),
            code: Some("cancelled".to_owned()),
            request_id: None,
        }
    }

    /// From an error only known by its text (a layer's own error type, say).
    pub(crate) fn from_display(error: &dyn Display) -> Self {
        ErrorInfo {
            message: error.to_string(),
            code: None,
            request_id: None,
        }
    }

    /// Puts the error on `span`: status, `error.type`, `aws.request_id`.
    pub(crate) fn record(&self, span: &SpanRef<'_>) {
        span.set_attribute(KeyValue::new(
            attr::ERROR_TYPE,
            self.code.clone().unwrap_or_else(|| "_OTHER".to_owned()),
        ));
        if let Some(id) = &self.request_id {
            span.set_attribute(KeyValue::new(attr::AWS_REQUEST_ID, id.clone()));
        }
        span.set_status(Status::error(self.message.clone()));
    }
}
