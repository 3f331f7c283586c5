//! The OTLP/HTTP receiver: `POST /v1/traces` in protobuf or JSON, as OpenTelemetry SDKs and
//! collectors send it, turned into the same segment documents the daemon's UDP side takes.
//!
//! Spans are converted by `baton-xray`'s [`SegmentEncoder`], the exporter's own conversion, so
//! a trace looks the same in the view whichever way it came, and the same as X-Ray would
//! show it.

use std::borrow::Cow;
use std::convert::Infallible;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use baton_xray::SegmentEncoder;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body as _, Incoming};
use hyper::header::{ALLOW, CONTENT_ENCODING, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use opentelemetry::trace::{
    Event, Link, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue as ProtoKeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span as ProtoSpan, span::SpanKind as ProtoKind};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use prost::Message as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, watch};

use crate::collector::Shared;

/// Where OTLP/HTTP exporters send traces.
pub(crate) const TRACES_PATH: &str = "/v1/traces";
/// The largest request body taken, after decompression (an exporter's batch of a few thousand
/// spans is a few megabytes at most).
pub(crate) const MAX_BODY_BYTES: usize = 32 << 20;
/// Connections served at once; more are closed as soon as they are accepted.
const MAX_CONNECTIONS: usize = 256;

/// The span flags bits that tell whether a span's parent is remote (OTLP 1.1).
const FLAG_HAS_IS_REMOTE: u32 = 0x100;
const FLAG_IS_REMOTE: u32 = 0x200;

/// Accepts connections until `stop` changes (or its sender is gone).
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>, stop: watch::Receiver<bool>) {
    crate::accept::accept_loop(
        listener,
        stop,
        MAX_CONNECTIONS,
        "otlp",
        true,
        move |stream, from, slot| connection(stream, from, Arc::clone(&shared), slot),
    )
    .await;
}

async fn connection(
    stream: TcpStream,
    from: SocketAddr,
    shared: Arc<Shared>,
    _slot: OwnedSemaphorePermit,
) {
    let service = hyper::service::service_fn(move |request| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, Infallible>(answer(&shared, request).await) }
    });
    crate::accept::serve_http1(stream, from, "otlp", service).await;
}

/// The two encodings OTLP/HTTP allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

/// Reads one request and answers it. Never fails: every problem is a status, with an OTLP
/// `Status` body in the request's encoding.
async fn answer(shared: &Shared, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    let declared = match content_type.as_deref() {
        Some("application/x-protobuf" | "application/protobuf") => Some(Encoding::Protobuf),
        Some("application/json") => Some(Encoding::Json),
        _ => None,
    };
    // Errors before the body is understood are answered in its declared encoding, else JSON.
    let answer_in = declared.unwrap_or(Encoding::Json);
    if request.uri().path() != TRACES_PATH {
        let message = format!(
            "only traces are received here, at {TRACES_PATH}; nothing is served at {}",
            request.uri().path()
        );
        return status(answer_in, StatusCode::NOT_FOUND, &message);
    }
    if request.method() != Method::POST {
        let mut response = status(answer_in, StatusCode::METHOD_NOT_ALLOWED, "use POST");
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let Some(encoding) = declared else {
        return status(
            Encoding::Json,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!(
                "content type {:?} is not OTLP/HTTP: use application/x-protobuf or application/json",
                content_type.as_deref().unwrap_or("")
            ),
        );
    };
    let gzip = match request
        .headers()
        .get(CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("" | "identity") => false,
        Some("gzip") => true,
        Some(other) => {
            let message = format!("content encoding {other:?} is not supported: use gzip or none");
            return status(encoding, StatusCode::UNSUPPORTED_MEDIA_TYPE, &message);
        }
    };
    if request.body().size_hint().lower() > MAX_BODY_BYTES as u64 {
        return too_large(encoding);
    }
    let body = Limited::new(request.into_body(), MAX_BODY_BYTES).collect();
    let body = match tokio::time::timeout(crate::accept::READ_TIMEOUT, body).await {
        Ok(Ok(body)) => body.to_bytes(),
        Ok(Err(failure)) if failure.is::<http_body_util::LengthLimitError>() => {
            return too_large(encoding);
        }
        Ok(Err(failure)) => {
            let message = format!("cannot read the body: {failure}");
            return status(encoding, StatusCode::BAD_REQUEST, &message);
        }
        Err(_) => {
            return status(
                encoding,
                StatusCode::REQUEST_TIMEOUT,
                "the body took too long",
            );
        }
    };
    let body = if gzip {
        match gunzip(&body) {
            Ok(body) => Bytes::from(body),
            Err(Gunzip::TooLarge) => return too_large(encoding),
            Err(Gunzip::Invalid(error)) => {
                let message = format!("the body is not valid gzip: {error}");
                return status(encoding, StatusCode::BAD_REQUEST, &message);
            }
        }
    } else {
        body
    };
    let request = match decode(encoding, &body) {
        Ok(request) => request,
        Err(message) => return status(encoding, StatusCode::BAD_REQUEST, &message),
    };

    let outcome = ingest(shared, request, Instant::now());
    let response = ExportTraceServiceResponse {
        partial_success: (outcome.rejected > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: outcome.rejected as i64,
            error_message: format!(
                "{} span(s) rejected: a trace id of 16 bytes and a span id of 8 bytes, not all zero, are required",
                outcome.rejected
            ),
        }),
    };
    let body = match encoding {
        Encoding::Protobuf => Bytes::from(response.encode_to_vec()),
        // By hand: proto3's JSON mapping leaves out an absent message (the generated serde
        // writes `null`) and writes an int64 as a decimal string.
        Encoding::Json => Bytes::from(match response.partial_success {
            Some(partial) => serde_json::json!({
                "partialSuccess": {
                    "rejectedSpans": partial.rejected_spans.to_string(),
                    "errorMessage": partial.error_message,
                }
            })
            .to_string(),
            None => "{}".to_owned(),
        }),
    };
    respond(encoding, StatusCode::OK, body)
}

/// Parses a request body in `encoding`.
fn decode(encoding: Encoding, body: &[u8]) -> Result<ExportTraceServiceRequest, String> {
    // A decoder's message can repeat the whole path to a nested field: keep the gist.
    fn short(error: impl std::fmt::Display) -> String {
        let text = error.to_string();
        match text.char_indices().nth(MAX_ERROR_CHARS) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text,
        }
    }
    match encoding {
        Encoding::Protobuf => ExportTraceServiceRequest::decode(body).map_err(|error| {
            format!(
                "the body is not an OTLP ExportTraceServiceRequest: {}",
                short(error)
            )
        }),
        Encoding::Json => serde_json::from_slice(body).map_err(|error| {
            format!(
                "the body is not OTLP/JSON ExportTraceServiceRequest: {}",
                short(error)
            )
        }),
    }
}

/// The longest decoder message passed back.
const MAX_ERROR_CHARS: usize = 300;

enum Gunzip {
    TooLarge,
    Invalid(std::io::Error),
}

fn gunzip(body: &[u8]) -> Result<Vec<u8>, Gunzip> {
    let mut out = Vec::new();
    // One byte over the limit tells a body that is too large from one that just fits.
    flate2::read::GzDecoder::new(body)
        .take(MAX_BODY_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(Gunzip::Invalid)?;
    if out.len() > MAX_BODY_BYTES {
        return Err(Gunzip::TooLarge);
    }
    Ok(out)
}

/// What one request added.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Spans converted and handed to the assembler.
    pub(crate) spans: usize,
    /// Spans left out for invalid ids.
    pub(crate) rejected: usize,
}

/// Converts every span of `request` and hands the documents to the assembler, waking those
/// waiting for traces once.
pub(crate) fn ingest(shared: &Shared, request: ExportTraceServiceRequest, now: Instant) -> Outcome {
    let mut outcome = Outcome::default();
    let mut batches = Vec::with_capacity(request.resource_spans.len());
    for resource_spans in request.resource_spans {
        let resource = resource_of(
            resource_spans
                .resource
                .map(|r| r.attributes)
                .unwrap_or_default(),
        );
        let mut spans = Vec::new();
        for scope_spans in resource_spans.scope_spans {
            let scope = match scope_spans.scope {
                Some(scope) => InstrumentationScope::builder(scope.name)
                    .with_version(scope.version)
                    .build(),
                None => InstrumentationScope::default(),
            };
            for span in scope_spans.spans {
                match span_data(span, &scope) {
                    Some(span) => spans.push(span),
                    None => outcome.rejected += 1,
                }
            }
        }
        outcome.spans += spans.len();
        batches.push((SegmentEncoder::new().with_resource(&resource), spans));
    }
    if outcome.rejected > 0 {
        tracing::debug!(
            target: "baton_trace",
            rejected = outcome.rejected,
            "otlp spans without valid ids left out"
        );
    }
    if outcome.spans > 0 {
        let mut assembler = shared.assembler();
        for (encoder, spans) in &batches {
            encoder.encode(spans, |datagram| {
                // The encoder writes well-formed documents; a failure here would be a bug
                // in one of the two, reported by the assembler itself.
                let _ = assembler.ingest(datagram.as_bytes(), now);
            });
        }
        drop(assembler);
        shared.updates.send_modify(|n| *n = n.wrapping_add(1));
    }
    outcome
}

/// The resource of a batch, from its OTLP attributes.
fn resource_of(attributes: Vec<ProtoKeyValue>) -> Resource {
    Resource::builder_empty()
        .with_attributes(attributes.into_iter().filter_map(key_value))
        .build()
}

/// One OTLP span as the SDK's `SpanData`, or `None` if its ids are not valid.
fn span_data(span: ProtoSpan, scope: &InstrumentationScope) -> Option<SpanData> {
    let trace_id = trace_id(&span.trace_id)?;
    let span_id = span_id(&span.span_id)?;
    let parent_span_id = if span.parent_span_id.is_empty() {
        SpanId::INVALID
    } else {
        span_id_or_invalid(&span.parent_span_id)
    };
    let span_kind = match ProtoKind::try_from(span.kind).unwrap_or(ProtoKind::Unspecified) {
        ProtoKind::Server => SpanKind::Server,
        ProtoKind::Client => SpanKind::Client,
        ProtoKind::Producer => SpanKind::Producer,
        ProtoKind::Consumer => SpanKind::Consumer,
        ProtoKind::Internal | ProtoKind::Unspecified => SpanKind::Internal,
    };
    // Exporters of OTLP 1.1 on say whether the parent is remote; for older ones, take a SERVER
    // or CONSUMER span with a parent as continuing a remote caller's or producer's trace,
    // which is what those kinds are for.
    let parent_span_is_remote = if span.flags & FLAG_HAS_IS_REMOTE != 0 {
        span.flags & FLAG_IS_REMOTE != 0
    } else {
        matches!(span_kind, SpanKind::Server | SpanKind::Consumer)
    };
    let status = match span.status {
        Some(status) if status.code == 2 => Status::Error {
            description: Cow::Owned(status.message),
        },
        Some(status) if status.code == 1 => Status::Ok,
        _ => Status::Unset,
    };
    let mut events = SpanEvents::default();
    events.events = span
        .events
        .into_iter()
        .map(|event| {
            Event::new(
                event.name,
                time(event.time_unix_nano),
                event.attributes.into_iter().filter_map(key_value).collect(),
                event.dropped_attributes_count,
            )
        })
        .collect();
    events.dropped_count = span.dropped_events_count;
    let mut links = SpanLinks::default();
    links.links = span
        .links
        .into_iter()
        .filter_map(|link| {
            let context = SpanContext::new(
                trace_id_or_invalid(&link.trace_id),
                span_id_or_invalid(&link.span_id),
                TraceFlags::new((link.flags & 0xff) as u8),
                link.flags & FLAG_IS_REMOTE != 0,
                TraceState::default(),
            );
            context.is_valid().then(|| {
                Link::new(
                    context,
                    link.attributes.into_iter().filter_map(key_value).collect(),
                    link.dropped_attributes_count,
                )
            })
        })
        .collect();
    links.dropped_count = span.dropped_links_count;
    let start_time = time(span.start_time_unix_nano);
    Some(SpanData {
        span_context: SpanContext::new(
            trace_id,
            span_id,
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id,
        parent_span_is_remote,
        span_kind,
        name: Cow::Owned(span.name),
        start_time,
        end_time: time(span.end_time_unix_nano).max(start_time),
        attributes: span.attributes.into_iter().filter_map(key_value).collect(),
        dropped_attributes_count: span.dropped_attributes_count,
        events,
        links,
        status,
        instrumentation_scope: scope.clone(),
    })
}

fn trace_id(bytes: &[u8]) -> Option<TraceId> {
    let id = TraceId::from_bytes(bytes.try_into().ok()?);
    (id != TraceId::INVALID).then_some(id)
}

fn span_id(bytes: &[u8]) -> Option<SpanId> {
    let id = SpanId::from_bytes(bytes.try_into().ok()?);
    (id != SpanId::INVALID).then_some(id)
}

fn trace_id_or_invalid(bytes: &[u8]) -> TraceId {
    trace_id(bytes).unwrap_or(TraceId::INVALID)
}

fn span_id_or_invalid(bytes: &[u8]) -> SpanId {
    span_id(bytes).unwrap_or(SpanId::INVALID)
}

fn time(unix_nanos: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_nanos(unix_nanos)
}

fn key_value(kv: ProtoKeyValue) -> Option<KeyValue> {
    let value = value(kv.value?.value?)?;
    Some(KeyValue::new(kv.key, value))
}

/// An OTLP value as an OpenTelemetry one. Arrays of one scalar type stay arrays; byte strings
/// become hex, and maps and mixed arrays their JSON text, so nothing is lost from view.
fn value(value: any_value::Value) -> Option<Value> {
    use opentelemetry::Array;
    Some(match value {
        any_value::Value::StringValue(s) => Value::String(s.into()),
        any_value::Value::BoolValue(b) => Value::Bool(b),
        any_value::Value::IntValue(i) => Value::I64(i),
        any_value::Value::DoubleValue(d) => Value::F64(d),
        any_value::Value::BytesValue(bytes) => Value::String(
            bytes
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                .into(),
        ),
        any_value::Value::ArrayValue(array) => {
            let values: Vec<any_value::Value> =
                array.values.into_iter().filter_map(|v| v.value).collect();
            if let Some(strings) = all(&values, |v| match v {
                any_value::Value::StringValue(s) => Some(StringValue::from(s.clone())),
                _ => None,
            }) {
                Value::Array(Array::String(strings))
            } else if let Some(bools) = all(&values, |v| match v {
                any_value::Value::BoolValue(b) => Some(*b),
                _ => None,
            }) {
                Value::Array(Array::Bool(bools))
            } else if let Some(ints) = all(&values, |v| match v {
                any_value::Value::IntValue(i) => Some(*i),
                _ => None,
            }) {
                Value::Array(Array::I64(ints))
            } else if let Some(doubles) = all(&values, |v| match v {
                any_value::Value::DoubleValue(d) => Some(*d),
                _ => None,
            }) {
                Value::Array(Array::F64(doubles))
            } else {
                Value::String(
                    json_text(&any_value::Value::ArrayValue(
                        opentelemetry_proto::tonic::common::v1::ArrayValue {
                            values: values
                                .into_iter()
                                .map(|v| AnyValue { value: Some(v) })
                                .collect(),
                        },
                    ))
                    .into(),
                )
            }
        }
        other @ any_value::Value::KvlistValue(_) => Value::String(json_text(&other).into()),
        // A profiling-only reference into a string table that traces do not have.
        any_value::Value::StringValueStrindex(_) => return None,
    })
}

/// `Some` of every item mapped when `f` maps them all, else `None`.
fn all<T>(
    values: &[any_value::Value],
    f: impl Fn(&any_value::Value) -> Option<T>,
) -> Option<Vec<T>> {
    values.iter().map(f).collect()
}

/// A map or mixed array as JSON text.
fn json_text(value: &any_value::Value) -> String {
    fn to_json(value: &any_value::Value) -> serde_json::Value {
        match value {
            any_value::Value::StringValue(s) => s.clone().into(),
            any_value::Value::BoolValue(b) => (*b).into(),
            any_value::Value::IntValue(i) => (*i).into(),
            any_value::Value::DoubleValue(d) => serde_json::Number::from_f64(*d)
                .map_or_else(|| d.to_string().into(), serde_json::Value::Number),
            any_value::Value::BytesValue(bytes) => bytes
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                .into(),
            any_value::Value::ArrayValue(array) => array
                .values
                .iter()
                .filter_map(|v| v.value.as_ref())
                .map(to_json)
                .collect::<Vec<_>>()
                .into(),
            any_value::Value::KvlistValue(list) => list
                .values
                .iter()
                .filter_map(|kv| {
                    Some((kv.key.clone(), to_json(kv.value.as_ref()?.value.as_ref()?)))
                })
                .collect::<serde_json::Map<_, _>>()
                .into(),
            any_value::Value::StringValueStrindex(_) => serde_json::Value::Null,
        }
    }
    to_json(value).to_string()
}

fn too_large(encoding: Encoding) -> Response<Full<Bytes>> {
    status(
        encoding,
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
    )
}

/// An error answer: the OTLP `Status` message (`code`, `message`) in the request's encoding.
fn status(encoding: Encoding, http: StatusCode, message: &str) -> Response<Full<Bytes>> {
    // gRPC's codes, as OTLP/HTTP asks: INVALID_ARGUMENT for a bad request, else UNKNOWN.
    let code: u8 = if http == StatusCode::BAD_REQUEST {
        3
    } else {
        2
    };
    let body = match encoding {
        Encoding::Json => {
            Bytes::from(serde_json::json!({ "code": code, "message": message }).to_string())
        }
        Encoding::Protobuf => {
            // google.rpc.Status: field 1 (int32 code), field 2 (string message).
            let mut out = vec![0x08, code, 0x12];
            prost::encoding::encode_varint(message.len() as u64, &mut out);
            out.extend_from_slice(message.as_bytes());
            Bytes::from(out)
        }
    };
    respond(encoding, http, body)
}

fn respond(encoding: Encoding, http: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = http;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(match encoding {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }),
    );
    response
}
