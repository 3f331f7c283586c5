//! EventBridge bus → rule → SQS target through LocalStack: the consumer continues the
//! producer's trace from `detail.traceHeader`.

use std::time::{Duration, Instant};

use aws_sdk_eventbridge::types::{PutEventsRequestEntry, Target};
use baton::TracerHandle;
use baton_eventbridge::{EventBridgePropagation, EventEnvelope};
use baton_integration::{TestQueue, TestTracer, eventbridge, sdk_config, sqs, unique_name};
use opentelemetry::Context;
use opentelemetry::trace::{FutureExt, TraceContextExt, Tracer};

/// A bus with a rule that sends every event of `source` to `queue`; removed by `delete`.
struct Route {
    client: aws_sdk_eventbridge::Client,
    bus: String,
    rule: String,
}

impl Route {
    async fn create(queue: &TestQueue, source: &str) -> Route {
        let client = eventbridge().await;
        let bus = unique_name("bus");
        let rule = unique_name("rule");
        client
            .create_event_bus()
            .name(&bus)
            .send()
            .await
            .expect("CreateEventBus");
        client
            .put_rule()
            .name(&rule)
            .event_bus_name(&bus)
            .event_pattern(format!(r#"{{"source":["{source}"]}}"#))
            .send()
            .await
            .expect("PutRule");
        let arn = queue.arn().await;
        client
            .put_targets()
            .rule(&rule)
            .event_bus_name(&bus)
            .targets(Target::builder().id("queue").arn(arn).build().unwrap())
            .send()
            .await
            .expect("PutTargets");
        Route { client, bus, rule }
    }

    async fn delete(self) {
        let _ = self
            .client
            .remove_targets()
            .rule(&self.rule)
            .event_bus_name(&self.bus)
            .ids("queue")
            .send()
            .await;
        let _ = self
            .client
            .delete_rule()
            .name(&self.rule)
            .event_bus_name(&self.bus)
            .send()
            .await;
        let _ = self.client.delete_event_bus().name(&self.bus).send().await;
    }
}

async fn receive_bodies(client: &aws_sdk_sqs::Client, url: &str, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut bodies = Vec::new();
    while bodies.len() < count && Instant::now() < deadline {
        let output = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("ReceiveMessage");
        bodies.extend(
            output
                .messages()
                .iter()
                .filter_map(|m| m.body().map(str::to_owned)),
        );
    }
    assert_eq!(bodies.len(), count, "events delivered to {url}");
    bodies
}

#[tokio::test]
async fn the_consumer_continues_the_trace_from_the_event_detail() {
    let queue = TestQueue::create(&sqs().await, "eb-target").await;
    queue
        .run(|queue| async move {
            let source = unique_name("baton.test");
            let route = Route::create(&queue, &source).await;
            let tracer = TestTracer::new();
            let propagation =
                EventBridgePropagation::new().with_tracer(TracerHandle::new(tracer.tracer()));
            let events = aws_sdk_eventbridge::Client::from_conf(
                aws_sdk_eventbridge::config::Builder::from(&sdk_config().await)
                    .interceptor(propagation.interceptor())
                    .build(),
            );
            let entry = |detail: &str| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(&route.bus)
                    .source(&source)
                    .detail_type("OrderPlaced")
                    .detail(detail)
                    .build()
            };
            let checkout = Context::new().with_span(tracer.tracer().start("checkout"));
            let before_put = std::time::SystemTime::now();
            let output = events
                .put_events()
                .entries(entry(r#"{"order": 42}"#))
                .send()
                .with_context(checkout.clone())
                .await
                .expect("PutEvents");
            assert_eq!(output.failed_entry_count, 0);
            checkout.span().end();

            // Details EventBridge refuses are refused exactly as without Baton: sent unchanged.
            let raw = eventbridge().await;
            for detail in ["[1,2]", "{oops"] {
                let with = events
                    .put_events()
                    .entries(entry(detail))
                    .send()
                    .await
                    .expect("PutEvents");
                let without = raw
                    .put_events()
                    .entries(entry(detail))
                    .send()
                    .await
                    .expect("PutEvents");
                assert_eq!(
                    with.entries()[0].error_code(),
                    without.entries()[0].error_code(),
                    "{detail}"
                );
                assert_eq!(
                    with.failed_entry_count, without.failed_entry_count,
                    "{detail}"
                );
            }

            // A detail with no room left for the field is sent as given, and EventBridge
            // answers exactly as it does without Baton.
            let oversized = format!(r#"{{"blob":"{}"}}"#, "x".repeat(256 * 1024 - 100));
            let with = events
                .put_events()
                .entries(entry(&oversized))
                .send()
                .await
                .expect("PutEvents");
            let without = raw
                .put_events()
                .entries(entry(&oversized))
                .send()
                .await
                .expect("PutEvents");
            assert_eq!(with.failed_entry_count, without.failed_entry_count);
            assert_eq!(
                with.entries()[0].error_code(),
                without.entries()[0].error_code()
            );
            let delivered =
                1 + usize::try_from(2 - with.failed_entry_count - without.failed_entry_count)
                    .unwrap();

            let mut bodies = receive_bodies(&queue.client, &queue.url, delivered).await;
            // The oversized events, if EventBridge took them, arrive with the detail unchanged.
            bodies.retain(|body| {
                let event = EventEnvelope::parse(body).expect("an event envelope");
                if event.detail.get("blob").is_some() {
                    assert!(
                        event.detail.get("traceHeader").is_none(),
                        "oversized detail changed"
                    );
                    false
                } else {
                    true
                }
            });
            assert_eq!(bodies.len(), 1);
            let event = EventEnvelope::parse(&bodies[0]).expect("an event envelope");
            assert_eq!(event.detail["order"], 42);
            let process = propagation.start_process_span(&event, &queue.name);
            process.span().end();

            // The send span of the call made under `checkout` (the refused sends have their own).
            let checkout_id = tracer.span("checkout").span_context.span_id();
            let send = tracer
                .finished_spans()
                .into_iter()
                .find(|s| {
                    s.name == format!("send {}", route.bus) && s.parent_span_id == checkout_id
                })
                .expect("a send span under checkout");
            let processed = tracer.span(&format!("process {}", queue.name));
            assert_eq!(
                processed.span_context.trace_id(),
                send.span_context.trace_id()
            );
            assert_eq!(processed.parent_span_id, send.span_context.span_id());
            // Time in queue from the `time` EventBridge wrote, in whole seconds: at most the
            // time since the put plus the second it truncated.
            let waited = processed
                .attributes
                .iter()
                .find(|kv| kv.key.as_str() == baton::attr::BATON_TIME_IN_QUEUE_MS)
                .map(|kv| kv.value.to_string().parse::<u128>().unwrap())
                .expect("time in queue from the event's time");
            let since_put = before_put.elapsed().unwrap().as_millis();
            assert!(
                waited <= since_put + 1_000,
                "{waited} ms, {since_put} ms since the put"
            );
            route.delete().await;
        })
        .await;
}
