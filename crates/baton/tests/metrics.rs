//! The messaging metrics, asserted data point by data point.

use std::time::Duration;

use baton::metrics::{
    CONSUMED_MESSAGES, DURATION_BOUNDARIES, MessagingMetrics, OPERATION_DURATION, PROCESS_DURATION,
    SENT_MESSAGES, TIME_IN_QUEUE, TIME_IN_QUEUE_BOUNDARIES,
};
use baton::{MessagingSystem, Operation};
use baton_test_support::{Metrics, point};

#[test]
fn each_operation_records_what_the_conventions_ask() {
    let metrics = Metrics::new();
    let m = MessagingMetrics::new(&metrics.meter());

    let mut send = m.start(
        MessagingSystem::Sqs,
        Operation::Send,
        "SendMessage",
        "orders",
    );
    send.set_server("sqs.eu-west-1.amazonaws.com", None);
    send.finish(None, 1);
    m.start(
        MessagingSystem::Sqs,
        Operation::Send,
        "SendMessage",
        "orders",
    )
    .finish(Some("QueueDoesNotExist"), 1);
    m.start(
        MessagingSystem::Sns,
        Operation::Send,
        "PublishBatch",
        "alerts",
    )
    .finish_batch(
        7,
        &[("InvalidParameter", 2), ("KMSThrottling", 1), ("Unused", 0)],
    );
    // A create records nothing.
    m.start(
        MessagingSystem::Sqs,
        Operation::Create,
        "SendMessageBatch",
        "orders",
    )
    .finish(None, 1);
    let mut receive = m.start(
        MessagingSystem::Sqs,
        Operation::Receive,
        "ReceiveMessage",
        "orders",
    );
    receive.set_server("127.0.0.1", Some(4566));
    // A second call replaces the first.
    receive.set_server("localhost", Some(4566));
    receive.finish(None, 4);
    // An empty receive counts no message; a failed one neither.
    m.start(
        MessagingSystem::Sqs,
        Operation::Receive,
        "ReceiveMessage",
        "orders",
    )
    .finish(None, 0);
    m.start(
        MessagingSystem::Sqs,
        Operation::Receive,
        "ReceiveMessage",
        "orders",
    )
    .finish(Some("_OTHER"), 0);
    m.start(
        MessagingSystem::Sqs,
        Operation::Settle,
        "DeleteMessageBatch",
        "orders",
    )
    .finish(None, 10);
    m.start(
        MessagingSystem::Sqs,
        Operation::Process,
        "process",
        "orders",
    )
    .finish(Some("handler_error"), 1);
    m.start(
        MessagingSystem::EventBridge,
        Operation::Process,
        "process",
        "shop",
    )
    .finish_pushed(None);
    // Dropped unfinished: nothing.
    drop(m.start(MessagingSystem::Sqs, Operation::Send, "SendMessage", "lost"));
    m.record_time_in_queue(MessagingSystem::Sqs, "orders", Duration::from_millis(1500));

    let sqs = [
        ("messaging.system", "aws_sqs"),
        ("messaging.destination.name", "orders"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut all = sqs.to_vec();
        all.extend_from_slice(extra);
        all
    };
    let sns = [
        ("messaging.system", "aws.sns"),
        ("messaging.destination.name", "alerts"),
        ("messaging.operation.name", "PublishBatch"),
    ];
    let eb = [
        ("messaging.system", "aws_eventbridge"),
        ("messaging.destination.name", "shop"),
        ("messaging.operation.name", "process"),
    ];
    let mut expected = vec![
        point(CONSUMED_MESSAGES, &eb, 1),
        point(
            CONSUMED_MESSAGES,
            &with(&[
                ("messaging.operation.name", "ReceiveMessage"),
                ("server.address", "localhost"),
                ("server.port", "4566"),
            ]),
            4,
        ),
        point(
            OPERATION_DURATION,
            &with(&[
                ("messaging.operation.name", "SendMessage"),
                ("messaging.operation.type", "send"),
                ("server.address", "sqs.eu-west-1.amazonaws.com"),
            ]),
            1,
        ),
        point(
            OPERATION_DURATION,
            &with(&[
                ("messaging.operation.name", "SendMessage"),
                ("messaging.operation.type", "send"),
                ("error.type", "QueueDoesNotExist"),
            ]),
            1,
        ),
        point(
            OPERATION_DURATION,
            &[sns.as_slice(), &[("messaging.operation.type", "send")]].concat(),
            1,
        ),
        point(
            OPERATION_DURATION,
            &with(&[
                ("messaging.operation.name", "ReceiveMessage"),
                ("messaging.operation.type", "receive"),
                ("server.address", "localhost"),
                ("server.port", "4566"),
            ]),
            1,
        ),
        point(
            OPERATION_DURATION,
            &with(&[
                ("messaging.operation.name", "ReceiveMessage"),
                ("messaging.operation.type", "receive"),
            ]),
            1,
        ),
        point(
            OPERATION_DURATION,
            &with(&[
                ("messaging.operation.name", "ReceiveMessage"),
                ("messaging.operation.type", "receive"),
                ("error.type", "_OTHER"),
            ]),
            1,
        ),
        point(
            OPERATION_DURATION,
            &with(&[
                ("messaging.operation.name", "DeleteMessageBatch"),
                ("messaging.operation.type", "settle"),
            ]),
            1,
        ),
        point(
            PROCESS_DURATION,
            &with(&[
                ("messaging.operation.name", "process"),
                ("error.type", "handler_error"),
            ]),
            1,
        ),
        point(PROCESS_DURATION, &eb, 1),
        point(
            SENT_MESSAGES,
            &with(&[
                ("messaging.operation.name", "SendMessage"),
                ("server.address", "sqs.eu-west-1.amazonaws.com"),
            ]),
            1,
        ),
        point(
            SENT_MESSAGES,
            &with(&[
                ("messaging.operation.name", "SendMessage"),
                ("error.type", "QueueDoesNotExist"),
            ]),
            1,
        ),
        point(SENT_MESSAGES, &sns, 7),
        point(
            SENT_MESSAGES,
            &[sns.as_slice(), &[("error.type", "InvalidParameter")]].concat(),
            2,
        ),
        point(
            SENT_MESSAGES,
            &[sns.as_slice(), &[("error.type", "KMSThrottling")]].concat(),
            1,
        ),
        point(TIME_IN_QUEUE, &sqs, 1),
    ];
    expected.sort();
    assert_eq!(metrics.points(), expected);

    let waited = metrics.histogram(TIME_IN_QUEUE);
    assert_eq!(waited.len(), 1);
    assert_eq!((waited[0].1, waited[0].2), (1, 1.5));
    assert_eq!(waited[0].3, TIME_IN_QUEUE_BOUNDARIES.to_vec());
    for (_, _, _, bounds) in metrics.histogram(OPERATION_DURATION) {
        assert_eq!(bounds, DURATION_BOUNDARIES.to_vec());
    }
}

#[test]
fn durations_are_in_seconds() {
    let metrics = Metrics::new();
    let m = MessagingMetrics::new(&metrics.meter());
    let measure = m.start(MessagingSystem::Sqs, Operation::Process, "process", "q");
    std::thread::sleep(Duration::from_millis(30));
    measure.finish(None, 1);
    let points = metrics.histogram(PROCESS_DURATION);
    let seconds = points[0].2;
    assert!((0.03..5.0).contains(&seconds), "{seconds}");
}
