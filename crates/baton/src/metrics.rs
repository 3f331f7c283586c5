//! The messaging metrics of the semantic conventions, recorded through a
//! [`opentelemetry::metrics::Meter`] the user passes (nothing is recorded without one).
//!
//! | metric | instrument | recorded for |
//! |---|---|---|
//! | `messaging.client.operation.duration` (s) | histogram | every send, receive and settle call |
//! | `messaging.client.sent.messages` | counter | the messages each send call attempted |
//! | `messaging.client.consumed.messages` | counter | the messages a receive returned, or a push delivery (Lambda) handed to the handler |
//! | `messaging.process.duration` (s) | histogram | each message a Baton runner handled |
//! | `baton.messaging.time_in_queue` (s) | histogram | how long each message a runner handled had waited (no conventions metric exists) |
//!
//! Every data point carries `messaging.system` and `messaging.destination.name` (queue, topic,
//! bus and state-machine names are few, as the conventions ask of that attribute on metrics);
//! all but `baton.messaging.time_in_queue` also carry `messaging.operation.name`, `error.type`
//! when the operation failed, and `server.address`/`server.port` where known;
//! `messaging.client.operation.duration` also carries `messaging.operation.type`. A batch send
//! whose call succeeded counts its refused entries apart, by the code the service gave each
//! (as `error.type`); its duration has no `error.type`, since the call succeeded. Durations use
//! the conventions' bucket boundaries.
//!
//! ```
//! use baton::metrics::MessagingMetrics;
//! use baton::{MessagingSystem, Operation};
//!
//! let meter = opentelemetry::global::meter("my-service");
//! let metrics = MessagingMetrics::new(&meter);
//! let measure = metrics.start(MessagingSystem::Sqs, Operation::Send, "SendMessage", "orders");
//! // … the call …
//! measure.finish(None, 1);
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry::metrics::{Counter, Histogram, Meter};
use opentelemetry::{KeyValue, StringValue, Value};

use crate::{MessagingSystem, Operation, attr};

/// `messaging.client.operation.duration`.
pub const OPERATION_DURATION: &str = "messaging.client.operation.duration";
/// `messaging.process.duration`.
pub const PROCESS_DURATION: &str = "messaging.process.duration";
/// `messaging.client.sent.messages`.
pub const SENT_MESSAGES: &str = "messaging.client.sent.messages";
/// `messaging.client.consumed.messages`.
pub const CONSUMED_MESSAGES: &str = "messaging.client.consumed.messages";
/// `baton.messaging.time_in_queue`: seconds between a message's sending and its delivery to a
/// runner's handler (the conventions define no metric for it).
pub const TIME_IN_QUEUE: &str = "baton.messaging.time_in_queue";

/// The conventions' bucket boundaries for messaging durations, in seconds.
pub const DURATION_BOUNDARIES: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Bucket boundaries for time in queue, in seconds: from milliseconds (a queue that keeps up)
/// to an hour (a backlog; SQS keeps messages for up to 14 days).
pub const TIME_IN_QUEUE_BOUNDARIES: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

/// The instruments of the messaging metrics, made once from a meter and cheap to clone.
#[derive(Clone)]
pub struct MessagingMetrics(Arc<Instruments>);

struct Instruments {
    operation: Histogram<f64>,
    process: Histogram<f64>,
    sent: Counter<u64>,
    consumed: Counter<u64>,
    time_in_queue: Histogram<f64>,
}

impl MessagingMetrics {
    /// Makes the instruments on `meter`.
    pub fn new(meter: &Meter) -> Self {
        MessagingMetrics(Arc::new(Instruments {
            operation: meter
                .f64_histogram(OPERATION_DURATION)
                .with_unit("s")
                .with_description(
                    "Duration of messaging operation initiated by a producer or consumer client.",
                )
                .with_boundaries(DURATION_BOUNDARIES.to_vec())
                .build(),
            process: meter
                .f64_histogram(PROCESS_DURATION)
                .with_unit("s")
                .with_description("Duration of processing operation.")
                .with_boundaries(DURATION_BOUNDARIES.to_vec())
                .build(),
            sent: meter
                .u64_counter(SENT_MESSAGES)
                .with_unit("{message}")
                .with_description("Number of messages producer attempted to send to the broker.")
                .build(),
            consumed: meter
                .u64_counter(CONSUMED_MESSAGES)
                .with_unit("{message}")
                .with_description("Number of messages that were delivered to the application.")
                .build(),
            time_in_queue: meter
                .f64_histogram(TIME_IN_QUEUE)
                .with_unit("s")
                .with_description(
                    "Time a message waited between its sending and its delivery to a handler.",
                )
                .with_boundaries(TIME_IN_QUEUE_BOUNDARIES.to_vec())
                .build(),
        }))
    }

    /// Starts measuring one `operation` (the service's `name` for it, `SendMessage` say) on
    /// `destination` (a `String`, a `&'static str`, or an `Arc<str>` shared without a copy);
    /// the clock runs from now until [`Measure::finish`].
    pub fn start(
        &self,
        system: MessagingSystem,
        operation: Operation,
        name: &'static str,
        destination: impl Into<StringValue>,
    ) -> Measure {
        let mut attributes = Vec::with_capacity(6);
        attributes.extend([
            KeyValue::new(attr::MESSAGING_SYSTEM, system.as_str()),
            KeyValue::new(attr::MESSAGING_OPERATION_NAME, name),
            KeyValue::new(
                attr::MESSAGING_DESTINATION_NAME,
                Value::String(destination.into()),
            ),
        ]);
        Measure {
            metrics: self.clone(),
            operation,
            started: Instant::now(),
            attributes,
        }
    }

    /// Starts measuring the processing of one message of `system` handled for `destination`
    /// (`messaging.operation.name` `process`).
    pub fn start_process(
        &self,
        system: MessagingSystem,
        destination: impl Into<StringValue>,
    ) -> Measure {
        self.start(system, Operation::Process, "process", destination)
    }

    /// Records that a message of `system` handled for `destination` had waited `waited`
    /// between its sending and its delivery.
    pub fn record_time_in_queue(
        &self,
        system: MessagingSystem,
        destination: impl Into<StringValue>,
        waited: Duration,
    ) {
        self.0.time_in_queue.record(
            waited.as_secs_f64(),
            &[
                KeyValue::new(attr::MESSAGING_SYSTEM, system.as_str()),
                KeyValue::new(
                    attr::MESSAGING_DESTINATION_NAME,
                    Value::String(destination.into()),
                ),
            ],
        );
    }
}

impl fmt::Debug for MessagingMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MessagingMetrics(..)")
    }
}

/// One operation being measured (see [`MessagingMetrics::start`]). Dropping it records
/// nothing.
#[derive(Clone, Debug)]
#[must_use = "a Measure records nothing until finished"]
pub struct Measure {
    metrics: MessagingMetrics,
    operation: Operation,
    started: Instant,
    attributes: Vec<KeyValue>,
}

impl Measure {
    /// Where the call went: `server.address`, and `server.port` when not the scheme's default.
    /// A second call replaces the first.
    pub fn set_server(&mut self, address: &str, port: Option<u16>) {
        self.attributes.retain(|kv| {
            kv.key.as_str() != attr::SERVER_ADDRESS && kv.key.as_str() != attr::SERVER_PORT
        });
        self.attributes
            .push(KeyValue::new(attr::SERVER_ADDRESS, address.to_owned()));
        if let Some(port) = port {
            self.attributes
                .push(KeyValue::new(attr::SERVER_PORT, i64::from(port)));
        }
    }

    /// Adds an attribute of the caller's to every data point (`messaging.consumer.group.name`,
    /// say).
    pub fn attribute(&mut self, key: &'static str, value: impl Into<opentelemetry::Value>) {
        self.attributes.push(KeyValue::new(key, value));
    }

    /// Ends the measure: the operation failed with `error` (its `error.type`) or succeeded
    /// (`None`), and it concerned `messages` messages. Records the duration, and:
    /// - a send: `messages` more sent messages (with the error, if any);
    /// - a receive that succeeded: `messages` more consumed messages;
    /// - a process: its duration in `messaging.process.duration` (not the client histogram);
    /// - a create: nothing (creating a message is no call to the broker, and the conventions
    ///   count a message as sent only when a send carries it).
    pub fn finish(self, error: Option<&str>, messages: usize) {
        let seconds = self.started.elapsed().as_secs_f64();
        let instruments = &self.metrics.0;
        let mut attributes = self.attributes;
        if let Some(error) = error {
            attributes.push(KeyValue::new(attr::ERROR_TYPE, error.to_owned()));
        }
        let messages = messages as u64;
        match self.operation {
            Operation::Process => {
                instruments.process.record(seconds, &attributes);
                return;
            }
            Operation::Create => return,
            Operation::Send => {
                if messages > 0 || error.is_some() {
                    instruments.sent.add(messages, &attributes);
                }
            }
            Operation::Receive if error.is_none() && messages > 0 => {
                instruments.consumed.add(messages, &attributes);
            }
            Operation::Receive | Operation::Settle => {}
        }
        attributes.push(KeyValue::new(
            attr::MESSAGING_OPERATION_TYPE,
            self.operation.as_str(),
        ));
        instruments.operation.record(seconds, &attributes);
    }

    /// Ends the measure of a batch send whose call succeeded: `accepted` messages sent, and
    /// for each error code the service gave, how many entries it refused with it (counted
    /// with the code as `error.type`). The call's duration carries no `error.type`: the call
    /// itself succeeded.
    pub fn finish_batch(self, accepted: usize, refused: &[(&str, usize)]) {
        for (code, count) in refused.iter().filter(|(_, count)| *count > 0) {
            let mut attributes = self.attributes.clone();
            attributes.push(KeyValue::new(attr::ERROR_TYPE, (*code).to_owned()));
            self.metrics.0.sent.add(*count as u64, &attributes);
        }
        self.finish(None, accepted);
    }

    /// Ends the measure of a message delivered by push (a Lambda event): counts it as consumed,
    /// then records its processing as [`finish`](Self::finish) does.
    pub fn finish_pushed(self, error: Option<&str>) {
        self.metrics.0.consumed.add(1, &self.attributes);
        self.finish(error, 1);
    }
}
