//! How the stub answers like SQS. The stub, its SDK configuration and the tracer come from
//! `baton-test-support`.
#![allow(dead_code, unreachable_pub)]

use std::sync::Mutex;

use baton_test_support::{Reply, Request, Responder, Stub, sdk_config};
use serde_json::{Value, json};

pub const REQUEST_ID: &str = "6fbbc2d8-0000-4000-8000-000000000001";

/// A stub HTTP client answering like SQS.
pub type StubSqs = Stub<Sqs>;

/// An SQS client sending to `stub`.
/// A client for `stub` with Baton's interceptor made from `config`.
pub fn intercepted(stub: &StubSqs, config: baton_sqs::SqsPropagation) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::from_conf(
        sdk_config!(aws_sdk_sqs, stub)
            .interceptor(config.interceptor())
            .build(),
    )
}

pub fn sqs_client(stub: &StubSqs) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::from_conf(sdk_config!(aws_sdk_sqs, stub).build())
}

/// Answers each SQS operation with a canned JSON body; the setters change the answers.
#[derive(Debug, Default)]
pub struct Sqs {
    receive_body: Mutex<Option<String>>,
    fail_with: Mutex<Option<(u16, String)>>,
    fail_entry: Mutex<Option<String>>,
    query_error: Mutex<Option<String>>,
}

impl Sqs {
    /// The body `ReceiveMessage` answers (else no messages).
    pub fn receive_body(&self, body: String) {
        *self.receive_body.lock().unwrap() = Some(body);
    }

    /// Answer every call with this status and body instead (an error).
    pub fn fail_with(&self, status: u16, body: &str) {
        *self.fail_with.lock().unwrap() = Some((status, body.to_owned()));
    }

    /// The SendMessageBatch entry with this id fails.
    pub fn fail_entry(&self, id: &str) {
        *self.fail_entry.lock().unwrap() = Some(id.to_owned());
    }

    /// The `x-amzn-query-error` header SQS sends with errors (`Code;Sender`).
    pub fn query_error(&self, value: &str) {
        *self.query_error.lock().unwrap() = Some(value.to_owned());
    }

    fn batch(&self, body: &str) -> String {
        let fail = self.fail_entry.lock().unwrap().clone();
        let request: Value = serde_json::from_str(body).unwrap();
        let (mut successful, mut failed) = (Vec::new(), Vec::new());
        for entry in request["Entries"].as_array().into_iter().flatten() {
            let id = entry["Id"].as_str().unwrap();
            if Some(id) == fail.as_deref() {
                failed.push(json!({"Id": id, "SenderFault": true,
                    "Code": "InvalidParameterValue", "Message": "bad entry"}));
            } else {
                successful.push(json!({"Id": id, "MessageId": format!("msg-{id}"),
                    "MD5OfMessageBody": "d41d8cd98f00b204e9800998ecf8427e"}));
            }
        }
        json!({"Successful": successful, "Failed": failed}).to_string()
    }
}

impl Responder for Sqs {
    fn respond(&self, request: &Request<'_>) -> Reply {
        let reply = match self.fail_with.lock().unwrap().clone() {
            Some((status, body)) => Reply::new(status, body),
            None => Reply::ok(match request.operation() {
                "SendMessage" => {
                    r#"{"MessageId":"msg-1","MD5OfMessageBody":"d41d8cd98f00b204e9800998ecf8427e"}"#
                        .to_owned()
                }
                "SendMessageBatch" | "DeleteMessageBatch" | "ChangeMessageVisibilityBatch" => {
                    self.batch(request.body())
                }
                "ReceiveMessage" => self
                    .receive_body
                    .lock()
                    .unwrap()
                    .clone()
                    .unwrap_or_else(|| r#"{"Messages":[]}"#.to_owned()),
                _ => "{}".to_owned(),
            }),
        };
        match self.query_error.lock().unwrap().clone() {
            Some(value) => reply.with_header("x-amzn-query-error", value),
            None => reply,
        }
    }

    fn headers(&self) -> &[(&'static str, &'static str)] {
        &[
            ("x-amzn-requestid", REQUEST_ID),
            ("content-type", "application/x-amz-json-1.0"),
        ]
    }
}
