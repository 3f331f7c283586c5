//! SQS errors as [`CallError`]s.

use std::error::Error as StdError;

pub(crate) use baton::CallError as ErrorInfo;

/// From any error: the SQS service error is looked for behind boxes and sources (a tower layer
/// may have boxed it); otherwise only the message is known.
pub(crate) fn from_any(error: &(dyn StdError + 'static)) -> ErrorInfo {
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(sqs) = e.downcast_ref::<aws_sdk_sqs::Error>() {
            return ErrorInfo::from_metadata(sqs);
        }
        current = e.source();
    }
    ErrorInfo::from_display(error)
}
