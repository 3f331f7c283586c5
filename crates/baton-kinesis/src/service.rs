//! The Tower form: a Kinesis client as a `tower::Service<KinesisRequest>`, and a propagation
//! layer ([`KinesisLayer`]).
//!
//! ```no_run
//! use aws_sdk_kinesis::operation::put_record::PutRecordInput;
//! use aws_sdk_kinesis::primitives::Blob;
//! use baton_kinesis::{KinesisPropagation, KinesisRequest};
//! use tower::{Service, ServiceExt};
//!
//! # async fn example(client: aws_sdk_kinesis::Client) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let mut kinesis = KinesisPropagation::new().with_data_field("traceHeader").service(client);
//! let input = PutRecordInput::builder()
//!     .stream_name("clicks")
//!     .partition_key("user-7")
//!     .data(Blob::new(r#"{"page":"/cart"}"#))
//!     .build()?;
//! let response = kinesis.ready().await?.call(KinesisRequest::from(input)).await?;
//! # drop(response);
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::operation::get_records::builders::GetRecordsFluentBuilder;
use aws_sdk_kinesis::operation::get_records::{GetRecordsInput, GetRecordsOutput};
use aws_sdk_kinesis::operation::put_record::builders::PutRecordFluentBuilder;
use aws_sdk_kinesis::operation::put_record::{PutRecordInput, PutRecordOutput};
use aws_sdk_kinesis::operation::put_records::builders::PutRecordsFluentBuilder;
use aws_sdk_kinesis::operation::put_records::{PutRecordsInput, PutRecordsOutput};
use tower::Service;

use crate::config::KinesisPropagation;

/// A Kinesis operation input.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum KinesisRequest {
    /// `PutRecord`.
    PutRecord(PutRecordInput),
    /// `PutRecords`.
    PutRecords(PutRecordsInput),
    /// `GetRecords`.
    GetRecords(GetRecordsInput),
}

/// The output of the matching [`KinesisRequest`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum KinesisResponse {
    /// `PutRecord`.
    PutRecord(PutRecordOutput),
    /// `PutRecords`.
    PutRecords(PutRecordsOutput),
    /// `GetRecords`.
    GetRecords(GetRecordsOutput),
}

impl From<PutRecordInput> for KinesisRequest {
    fn from(input: PutRecordInput) -> Self {
        KinesisRequest::PutRecord(input)
    }
}

impl From<PutRecordsInput> for KinesisRequest {
    fn from(input: PutRecordsInput) -> Self {
        KinesisRequest::PutRecords(input)
    }
}

impl From<GetRecordsInput> for KinesisRequest {
    fn from(input: GetRecordsInput) -> Self {
        KinesisRequest::GetRecords(input)
    }
}

// Inputs go into fluent builders field by field; the unit test `builders_carry_every_input_field`
// fails if the SDK adds a field these miss.
fn put_record_builder(client: &Client, i: PutRecordInput) -> PutRecordFluentBuilder {
    client
        .put_record()
        .set_stream_name(i.stream_name)
        .set_data(i.data)
        .set_partition_key(i.partition_key)
        .set_explicit_hash_key(i.explicit_hash_key)
        .set_sequence_number_for_ordering(i.sequence_number_for_ordering)
        .set_stream_arn(i.stream_arn)
        .set_stream_id(i.stream_id)
        .set_dry_run(i.dry_run)
}

fn put_records_builder(client: &Client, i: PutRecordsInput) -> PutRecordsFluentBuilder {
    client
        .put_records()
        .set_records(i.records)
        .set_stream_name(i.stream_name)
        .set_stream_arn(i.stream_arn)
        .set_stream_id(i.stream_id)
        .set_dry_run(i.dry_run)
}

fn get_records_builder(client: &Client, i: GetRecordsInput) -> GetRecordsFluentBuilder {
    client
        .get_records()
        .set_shard_iterator(i.shard_iterator)
        .set_limit(i.limit)
        .set_stream_arn(i.stream_arn)
        .set_stream_id(i.stream_id)
        .set_dry_run(i.dry_run)
}

/// A Kinesis client as a `tower::Service<KinesisRequest>`; errors are the SDK's, as
/// [`aws_sdk_kinesis::Error`]. Always ready.
#[derive(Clone, Debug)]
pub struct KinesisService {
    client: Client,
}

impl KinesisService {
    /// Wraps `client`.
    pub fn new(client: Client) -> Self {
        KinesisService { client }
    }
}

/// The future of [`KinesisService`] (boxed: the SDK's futures cannot be named).
pub type KinesisFuture =
    Pin<Box<dyn Future<Output = Result<KinesisResponse, aws_sdk_kinesis::Error>> + Send>>;

impl Service<KinesisRequest> for KinesisService {
    type Response = KinesisResponse;
    type Error = aws_sdk_kinesis::Error;
    type Future = KinesisFuture;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: KinesisRequest) -> Self::Future {
        let client = self.client.clone();
        Box::pin(async move {
            Ok(match request {
                KinesisRequest::PutRecord(i) => {
                    KinesisResponse::PutRecord(put_record_builder(&client, i).send().await?)
                }
                KinesisRequest::PutRecords(i) => {
                    KinesisResponse::PutRecords(put_records_builder(&client, i).send().await?)
                }
                KinesisRequest::GetRecords(i) => {
                    KinesisResponse::GetRecords(get_records_builder(&client, i).send().await?)
                }
            })
        })
    }
}

/// The Tower layer of Kinesis propagation: wraps a Kinesis service (usually
/// [`KinesisService`]) in [`TracedKinesis`]. Made by
/// [`KinesisPropagation::layer`](crate::KinesisPropagation::layer).
pub type KinesisLayer = baton::driver::PropagationLayer<KinesisPropagation>;

/// A Kinesis service with propagation (the driver's [`Traced`](baton::driver::Traced), with
/// Kinesis' settings): PutRecord and PutRecords get a PRODUCER span (and, with the data
/// field on, the trace in each record's data), GetRecords a `receive` span inside a trace;
/// errors pass through unchanged.
pub type TracedKinesis<S> = baton::driver::Traced<KinesisPropagation, S>;

/// The response future of [`TracedKinesis`]: ends the call's span with the outcome (or as
/// cancelled, if dropped first).
pub type KinesisResponseFuture<F> = baton::driver::ResponseFuture<F, KinesisPropagation>;

#[cfg(test)]
mod tests {
    use aws_sdk_kinesis::primitives::Blob;
    use aws_sdk_kinesis::types::PutRecordsRequestEntry;

    use super::*;

    fn client() -> Client {
        Client::from_conf(
            aws_sdk_kinesis::Config::builder()
                .behavior_version(aws_sdk_kinesis::config::BehaviorVersion::latest())
                .build(),
        )
    }

    /// Every field of `debug` (an input's `{:#?}`) is one the builder carries, and the input
    /// built again from the builder is the same.
    macro_rules! carries_every_field {
        ($input:expr, $builder:ident, [$($field:literal),*]) => {{
            let input = $input;
            let debug = format!("{input:#?}");
            assert_eq!(baton_test_support::debug_fields(&debug), [$($field),*]);
            let before = format!("{input:?}");
            let after = $builder(&client(), input).as_input().clone().build().unwrap();
            assert_eq!(format!("{after:?}"), before);
        }};
    }

    #[test]
    fn builders_carry_every_input_field() {
        carries_every_field!(
            PutRecordInput::builder()
                .stream_name("s")
                .data(Blob::new("d"))
                .partition_key("k")
                .explicit_hash_key("h")
                .sequence_number_for_ordering("n")
                .stream_arn("a")
                .stream_id("i")
                .dry_run(true)
                .build()
                .unwrap(),
            put_record_builder,
            [
                "stream_name",
                "data",
                "partition_key",
                "explicit_hash_key",
                "sequence_number_for_ordering",
                "stream_arn",
                "stream_id",
                "dry_run"
            ]
        );
        carries_every_field!(
            PutRecordsInput::builder()
                .records(
                    PutRecordsRequestEntry::builder()
                        .data(Blob::new("d"))
                        .partition_key("k")
                        .build()
                        .unwrap()
                )
                .stream_name("s")
                .stream_arn("a")
                .stream_id("i")
                .dry_run(true)
                .build()
                .unwrap(),
            put_records_builder,
            [
                "records",
                "stream_name",
                "stream_arn",
                "stream_id",
                "dry_run"
            ]
        );
        carries_every_field!(
            GetRecordsInput::builder()
                .shard_iterator("it")
                .limit(5)
                .stream_arn("a")
                .stream_id("i")
                .dry_run(true)
                .build()
                .unwrap(),
            get_records_builder,
            [
                "shard_iterator",
                "limit",
                "stream_arn",
                "stream_id",
                "dry_run"
            ]
        );
    }
}
