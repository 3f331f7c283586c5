//! The Tower form of every service, built with `service(client)`, against LocalStack: each send
//! is traced, its context reaches the service, and its span records the client's region (the
//! Tower forms of SNS, EventBridge and Step Functions used to leave `cloud.region` out).

use aws_sdk_eventbridge::operation::put_events::PutEventsInput;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_sfn::operation::start_execution::StartExecutionInput;
use aws_sdk_sfn::types::StateMachineType;
use aws_sdk_sns::operation::publish::PublishInput;
use aws_sdk_sqs::operation::send_message::SendMessageInput;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use baton::TracerHandle;
use baton_eventbridge::EventBridgePropagation;
use baton_integration::{REGION, TestQueue, TestTracer, eventbridge, sfn, sns, sqs, unique_name};
use baton_sfn::{SfnPropagation, SfnRequest};
use baton_sns::{SnsPropagation, SnsRequest};
use baton_sqs::{SqsPropagation, SqsRequest};
use opentelemetry_sdk::trace::SpanData;
use tower::{Service, ServiceExt};

fn region_of(span: &SpanData) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == "cloud.region")
        .map(|kv| kv.value.to_string())
}

/// One call through a Tower service, once it is ready.
async fn call_once<S: Service<R>, R>(service: &mut S, request: R) -> Result<S::Response, S::Error>
where
    S::Error: std::fmt::Debug,
{
    service.ready().await.expect("ready").call(request).await
}

fn only_send_span(tracer: &TestTracer) -> SpanData {
    let spans = tracer.finished_spans();
    let sends: Vec<_> = spans
        .iter()
        .filter(|s| s.name.starts_with("send "))
        .collect();
    assert_eq!(sends.len(), 1, "one send span expected: {spans:?}");
    sends[0].clone()
}

#[tokio::test]
async fn sqs_tower_form_traces_the_send_with_the_clients_region() {
    let tracer = TestTracer::new();
    let client = sqs().await;
    let queue = TestQueue::create(&client, "tower-sqs").await;
    let url = queue.url.clone();
    let mut service = SqsPropagation::new()
        .with_tracer(TracerHandle::new(tracer.tracer()))
        .service(client.clone());
    let input = SendMessageInput::builder()
        .queue_url(&url)
        .message_body("order 1")
        .build()
        .unwrap();
    call_once(&mut service, SqsRequest::from(input))
        .await
        .expect("SendMessage through the Tower form");
    let send = only_send_span(&tracer);
    assert_eq!(region_of(&send).as_deref(), Some(REGION));

    let received = client
        .receive_message()
        .queue_url(&url)
        .message_system_attribute_names(MessageSystemAttributeName::AwsTraceHeader)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    let header = received.messages()[0]
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::AwsTraceHeader))
        .cloned()
        .expect("AWSTraceHeader on the message");
    assert!(header.contains(&send.span_context.span_id().to_string()));
    queue.delete().await;
}

#[tokio::test]
async fn sns_tower_form_traces_the_publish_with_the_clients_region() {
    let tracer = TestTracer::new();
    let client = sns().await;
    let topic = client
        .create_topic()
        .name(unique_name("tower-sns"))
        .send()
        .await
        .expect("CreateTopic")
        .topic_arn
        .expect("topic ARN");
    let mut service = SnsPropagation::new()
        .with_tracer(TracerHandle::new(tracer.tracer()))
        .service(client.clone());
    let input = PublishInput::builder()
        .topic_arn(&topic)
        .message("order 2")
        .build()
        .unwrap();
    let result = call_once(&mut service, SnsRequest::from(input)).await;
    client.delete_topic().topic_arn(&topic).send().await.ok();
    result.expect("Publish through the Tower form");
    assert_eq!(region_of(&only_send_span(&tracer)).as_deref(), Some(REGION));
}

#[tokio::test]
async fn eventbridge_tower_form_traces_put_events_with_the_clients_region() {
    let tracer = TestTracer::new();
    let client = eventbridge().await;
    let mut service = EventBridgePropagation::new()
        .with_tracer(TracerHandle::new(tracer.tracer()))
        .service(client);
    let input = PutEventsInput::builder()
        .entries(
            PutEventsRequestEntry::builder()
                .source("baton.tests")
                .detail_type("TowerForm")
                .detail(r#"{"order":3}"#)
                .build(),
        )
        .build()
        .unwrap();
    let output = call_once(&mut service, input)
        .await
        .expect("PutEvents through the Tower form");
    assert_eq!(output.failed_entry_count, 0);
    assert_eq!(region_of(&only_send_span(&tracer)).as_deref(), Some(REGION));
}

#[tokio::test]
async fn step_functions_tower_form_traces_the_start_with_the_clients_region() {
    let tracer = TestTracer::new();
    let client = sfn().await;
    let machine = client
        .create_state_machine()
        .name(unique_name("tower-sfn"))
        .definition(r#"{"StartAt":"Done","States":{"Done":{"Type":"Pass","End":true}}}"#)
        .role_arn("arn:aws:iam::000000000000:role/baton-test")
        .r#type(StateMachineType::Standard)
        .send()
        .await
        .expect("CreateStateMachine")
        .state_machine_arn;
    let mut service = SfnPropagation::new()
        .with_tracer(TracerHandle::new(tracer.tracer()))
        .service(client.clone());
    let input = StartExecutionInput::builder()
        .state_machine_arn(&machine)
        .input("{}")
        .build()
        .unwrap();
    let result = call_once(&mut service, SfnRequest::from(input)).await;
    let execution = result.expect("StartExecution through the Tower form");
    let send = only_send_span(&tracer);
    assert_eq!(region_of(&send).as_deref(), Some(REGION));
    let baton_sfn::SfnResponse::StartExecution(output) = execution else {
        panic!("a StartExecution response");
    };
    let described = client
        .describe_execution()
        .execution_arn(&output.execution_arn)
        .send()
        .await
        .expect("DescribeExecution");
    let header = described.trace_header().unwrap_or_default();
    assert!(
        header.contains(&send.span_context.span_id().to_string()),
        "the execution carries the send span's header: {header:?}"
    );
    client
        .delete_state_machine()
        .state_machine_arn(&machine)
        .send()
        .await
        .ok();
}
