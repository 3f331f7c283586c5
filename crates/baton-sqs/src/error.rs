//! SQS errors as [`CallError`](baton::CallError)s.

pub(crate) use baton::CallError as ErrorInfo;
