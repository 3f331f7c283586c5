//! How the stub answers Publish and PublishBatch like SNS, and form decoding for the query
//! protocol's bodies. The stub, its SDK configuration and the tracer come from
//! `baton-test-support`.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;

use baton_test_support::{Reply, Request, Responder};

/// A stub HTTP client answering like SNS.
pub type Stub = baton_test_support::Stub<Sns>;

/// Answers Publish and PublishBatch (every entry succeeding) the way SNS does; a failure is
/// SNS's `InternalError`, which the SDK retries.
#[derive(Debug, Default)]
pub struct Sns;

impl Responder for Sns {
    fn respond(&self, request: &Request<'_>) -> Reply {
        if request.operation() == "PublishBatch" {
            let members: String = parse_form(request.body())
                .iter()
                .filter(|(k, _)| k.starts_with("PublishBatchRequestEntries.") && k.ends_with(".Id"))
                .map(|(_, id)| {
                    format!("<member><Id>{id}</Id><MessageId>m-{id}</MessageId></member>")
                })
                .collect();
            Reply::ok(format!(
                "<PublishBatchResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">\
                 <PublishBatchResult><Successful>{members}</Successful><Failed/>\
                 </PublishBatchResult><ResponseMetadata><RequestId>req-1</RequestId>\
                 </ResponseMetadata></PublishBatchResponse>"
            ))
        } else {
            Reply::ok(
                "<PublishResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><PublishResult>\
                 <MessageId>m-1</MessageId></PublishResult><ResponseMetadata><RequestId>req-1\
                 </RequestId></ResponseMetadata></PublishResponse>",
            )
        }
    }

    fn failure(&self, _: &Request<'_>) -> Reply {
        Reply::new(
            500,
            "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error>\
             <Type>Receiver</Type><Code>InternalError</Code><Message>try again</Message>\
             </Error><RequestId>req-e</RequestId></ErrorResponse>",
        )
    }

    fn headers(&self) -> &[(&'static str, &'static str)] {
        &[("content-type", "text/xml")]
    }
}

/// Request `index`: its `x-amzn-trace-id` header and its form fields, in order.
pub fn sent(stub: &Stub, index: usize) -> (Option<String>, Vec<(String, String)>) {
    let request = stub.request(index);
    (
        request.trace_header().map(str::to_owned),
        form_pairs(request.body()),
    )
}

/// Undoes form encoding (`%XX` escapes and `+` for space).
pub fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// A form body's fields, decoded, in order.
pub fn form_pairs(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

/// A form body as a map from key to value.
pub fn parse_form(body: &str) -> HashMap<String, String> {
    form_pairs(body).into_iter().collect()
}
