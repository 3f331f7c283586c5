//! How the stub answers StartExecution and StartSyncExecution like Step Functions. The stub,
//! its SDK configuration and the tracer come from `baton-test-support`.
#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicBool, Ordering};

use baton_test_support::{Reply, Request, Responder};
use serde_json::json;

pub const EXECUTION: &str = "arn:aws:states:eu-west-1:123456789012:execution:orders:e-1";

/// A stub HTTP client answering like Step Functions.
pub type Stub = baton_test_support::Stub<Sfn>;

/// Answers like Step Functions; a failure is an `InternalFailure`, which the SDK retries.
#[derive(Debug, Default)]
pub struct Sfn {
    sync_fails: AtomicBool,
}

impl Sfn {
    /// From now on StartSyncExecution answers that the execution failed (else that it
    /// succeeded).
    pub fn sync_fails(&self) {
        self.sync_fails.store(true, Ordering::SeqCst);
    }
}

impl Responder for Sfn {
    fn respond(&self, request: &Request<'_>) -> Reply {
        let sync = request.operation() == "StartSyncExecution";
        let response = match (sync, self.sync_fails.load(Ordering::SeqCst)) {
            (true, true) => json!({"executionArn": EXECUTION, "startDate": 1764000000,
                "stopDate": 1764000001, "status": "FAILED", "error": "States.TaskFailed",
                "cause": "the task failed"}),
            (true, false) => json!({"executionArn": EXECUTION, "startDate": 1764000000,
                "stopDate": 1764000001, "status": "SUCCEEDED", "output": "{}"}),
            _ => json!({"executionArn": EXECUTION, "startDate": 1764000000}),
        };
        Reply::ok(response.to_string())
    }

    fn failure(&self, _: &Request<'_>) -> Reply {
        Reply::new(500, r#"{"__type":"InternalFailure","message":"try again"}"#)
    }

    fn headers(&self) -> &[(&'static str, &'static str)] {
        &[
            ("x-amzn-requestid", "req-1"),
            ("content-type", "application/x-amz-json-1.0"),
        ]
    }
}
