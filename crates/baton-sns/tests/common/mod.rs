//! Test support: an HTTP client that records what the SDK sends and answers Publish and
//! PublishBatch as SNS does.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_sns::config::{BehaviorVersion, Credentials, Region, RuntimeComponents};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

/// A request as the stub saw it: its `x-amzn-trace-id` header and its form body.
pub type Recorded = (Option<String>, String);

/// Records every request; answers Publish and PublishBatch (every entry succeeding) the way
/// SNS does.
#[derive(Clone, Debug, Default)]
pub struct Stub {
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    /// Answer this many requests with a 500 first (the SDK retries those).
    pub fail_first: Arc<Mutex<usize>>,
}

fn xml(status: u16, body: String) -> HttpConnectorFuture {
    let mut response =
        HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body));
    response.headers_mut().insert("content-type", "text/xml");
    HttpConnectorFuture::ready(Ok(response))
}

impl HttpConnector for Stub {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let header = request.headers().get("x-amzn-trace-id").map(str::to_owned);
        let body = String::from_utf8(request.body().bytes().unwrap().to_vec()).unwrap();
        self.requests.lock().unwrap().push((header, body.clone()));
        {
            let mut fail = self.fail_first.lock().unwrap();
            if *fail > 0 {
                *fail -= 1;
                return xml(
                    500,
                    "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error>\
                     <Type>Receiver</Type><Code>InternalError</Code><Message>try again</Message>\
                     </Error><RequestId>req-e</RequestId></ErrorResponse>"
                        .to_owned(),
                );
            }
        }
        let response = if body.contains("Action=PublishBatch") {
            let members: String = parse_form(&body)
                .iter()
                .filter(|(k, _)| k.starts_with("PublishBatchRequestEntries.") && k.ends_with(".Id"))
                .map(|(_, id)| {
                    format!("<member><Id>{id}</Id><MessageId>m-{id}</MessageId></member>")
                })
                .collect();
            format!(
                "<PublishBatchResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">\
                 <PublishBatchResult><Successful>{members}</Successful><Failed/>\
                 </PublishBatchResult><ResponseMetadata><RequestId>req-1</RequestId>\
                 </ResponseMetadata></PublishBatchResponse>"
            )
        } else {
            "<PublishResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><PublishResult>\
             <MessageId>m-1</MessageId></PublishResult><ResponseMetadata><RequestId>req-1\
             </RequestId></ResponseMetadata></PublishResponse>"
                .to_owned()
        };
        xml(200, response)
    }
}

impl HttpClient for Stub {
    fn http_connector(
        &self,
        _: &HttpConnectorSettings,
        _: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

impl Stub {
    /// An SNS client configuration that sends to this stub.
    pub fn config(&self) -> aws_sdk_sns::config::Builder {
        aws_sdk_sns::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "stub"))
            .endpoint_url("http://stub.invalid")
            .http_client(self.clone())
    }

    /// Every request so far.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// Request `index`: its header and its form fields, in order.
    pub fn request(&self, index: usize) -> (Option<String>, Vec<(String, String)>) {
        let (header, body) = self.requests.lock().unwrap()[index].clone();
        (header, form_pairs(&body))
    }
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
