//! Step Functions through LocalStack: the trace header reaches the execution, an SQS task
//! hands it on to the queue's consumer, and StartSyncExecution works.

use std::time::{Duration, Instant};

use aws_sdk_sfn::types::StateMachineType;
use baton::TracerHandle;
use baton_integration::{TestQueue, TestTracer, sfn_config, sqs, unique_name};
use baton_sfn::SfnPropagation;
use baton_sqs::{Carrier, MessageExt, SqsPropagation};
use opentelemetry::Context;
use opentelemetry::trace::{FutureExt, TraceContextExt, Tracer};

const ROLE: &str = "arn:aws:iam::000000000000:role/baton-test";

async fn client(tracer: &TestTracer, propagation: SfnPropagation) -> aws_sdk_sfn::Client {
    let propagation = propagation.with_tracer(TracerHandle::new(tracer.tracer()));
    aws_sdk_sfn::Client::from_conf(
        sfn_config()
            .await
            .interceptor(propagation.interceptor())
            .build(),
    )
}

async fn state_machine(
    sfn: &aws_sdk_sfn::Client,
    definition: &str,
    kind: StateMachineType,
) -> String {
    sfn.create_state_machine()
        .name(unique_name("sm"))
        .definition(definition)
        .role_arn(ROLE)
        .r#type(kind)
        .send()
        .await
        .expect("CreateStateMachine")
        .state_machine_arn
}

fn header_of(span: &opentelemetry_sdk::trace::SpanData) -> String {
    let id = span.span_context.trace_id().to_string();
    format!(
        "Root=1-{}-{};Parent={};Sampled=1",
        &id[..8],
        &id[8..],
        span.span_context.span_id()
    )
}

#[tokio::test]
async fn the_execution_carries_the_trace_header() {
    let tracer = TestTracer::new();
    let sfn = client(&tracer, SfnPropagation::new()).await;
    let arn = state_machine(
        &sfn,
        r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#,
        StateMachineType::Standard,
    )
    .await;
    let checkout = Context::new().with_span(tracer.tracer().start("checkout"));
    let execution = sfn
        .start_execution()
        .state_machine_arn(&arn)
        .input(r#"{"order":42}"#)
        .send()
        .with_context(checkout.clone())
        .await
        .expect("StartExecution");
    checkout.span().end();
    let described = sfn
        .describe_execution()
        .execution_arn(&execution.execution_arn)
        .send()
        .await
        .expect("DescribeExecution");
    let name = arn.rsplit(':').next().unwrap();
    let send = tracer.span(&format!("send {name}"));
    assert_eq!(
        send.parent_span_id,
        tracer.span("checkout").span_context.span_id()
    );
    assert_eq!(described.trace_header(), Some(header_of(&send).as_str()));
    // Without the input field option the input is untouched.
    assert_eq!(described.input(), Some(r#"{"order":42}"#));
    let _ = sfn
        .delete_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await;
}

#[tokio::test]
async fn an_sqs_task_hands_the_trace_to_the_consumer() {
    let queue = TestQueue::create(&sqs().await, "sfn-task").await;
    queue
        .run(|queue| async move {
            let tracer = TestTracer::new();
            let sfn = client(&tracer, SfnPropagation::new().with_input_field("traceHeader")).await;
            // The state passes the header from its input on as the message's X-Amzn-Trace-Id.
            let definition = format!(
                r#"{{"StartAt":"Send","States":{{"Send":{{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage",
                "Parameters":{{"QueueUrl":"{}","MessageBody":"from step functions",
                "MessageAttributes":{{"X-Amzn-Trace-Id":{{"DataType":"String","StringValue.$":"$.traceHeader"}}}}}},
                "End":true}}}}}}"#,
                queue.url
            );
            let arn = state_machine(&sfn, &definition, StateMachineType::Standard).await;
            let checkout = Context::new().with_span(tracer.tracer().start("checkout"));
            sfn.start_execution()
                .state_machine_arn(&arn)
                .input(r#"{"order":42}"#)
                .send()
                .with_context(checkout.clone())
                .await
                .expect("StartExecution");
            checkout.span().end();

            let consumer = aws_sdk_sqs::Client::from_conf(
                aws_sdk_sqs::config::Builder::from(&baton_integration::sdk_config().await)
                    .interceptor(SqsPropagation::new().interceptor())
                    .build(),
            );
            let deadline = Instant::now() + Duration::from_secs(30);
            let message = loop {
                let output = consumer
                    .receive_message()
                    .queue_url(&queue.url)
                    .wait_time_seconds(1)
                    .send()
                    .await
                    .expect("ReceiveMessage");
                if let Some(message) = output.messages.and_then(|m| m.into_iter().next()) {
                    break message;
                }
                assert!(Instant::now() < deadline, "the task's message never arrived");
            };
            assert_eq!(message.trace_carrier(), Some(Carrier::XrayAttribute));
            let process = SqsPropagation::new()
                .with_tracer(TracerHandle::new(tracer.tracer()))
                .start_process_span(&message, &queue.name);
            process.span().end();

            let name = arn.rsplit(':').next().unwrap().to_string();
            let send = tracer.span(&format!("send {name}"));
            let processed = tracer.span(&format!("process {}", queue.name));
            assert_eq!(processed.span_context.trace_id(), send.span_context.trace_id());
            assert_eq!(processed.parent_span_id, send.span_context.span_id());
            let _ = sfn.delete_state_machine().state_machine_arn(&arn).send().await;
        })
        .await;
}

#[tokio::test]
async fn start_sync_execution_works_and_carries_the_header() {
    let tracer = TestTracer::new();
    let sfn = client(
        &tracer,
        SfnPropagation::new().with_input_field("traceHeader"),
    )
    .await;
    let arn = state_machine(
        &sfn,
        r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#,
        StateMachineType::Express,
    )
    .await;
    let output = sfn
        .start_sync_execution()
        .state_machine_arn(&arn)
        .input(r#"{"order":42}"#)
        .send()
        .await
        .expect("StartSyncExecution");
    assert_eq!(
        output.status,
        aws_sdk_sfn::types::SyncExecutionStatus::Succeeded
    );
    let name = arn.rsplit(':').next().unwrap();
    let send = tracer.span(&format!("send {name}"));
    // The Pass state echoes its input: the header went in, and nothing else changed.
    let echoed: serde_json::Value = serde_json::from_str(output.output().unwrap()).unwrap();
    assert_eq!(echoed["order"], 42);
    assert_eq!(echoed["traceHeader"], header_of(&send));
    assert!(
        send.attributes
            .iter()
            .any(|kv| kv.key.as_str() == baton::attr::MESSAGING_MESSAGE_ID
                && kv.value.as_str() == output.execution_arn)
    );
    let _ = sfn
        .delete_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await;
}
