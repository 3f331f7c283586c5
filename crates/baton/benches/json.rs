//! Checking an EventBridge detail (or a Step Functions input, a Kinesis record) and adding the
//! trace header to it: Baton's one-pass probe and insertion against what a caller would write
//! with serde_json (parse into a `Value`, insert the field, write it out again), side by side
//! in one run, on a small detail and on larger ones.
//!
//! `cargo bench -p baton --features json --bench json`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

const HEADER: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

/// An order event's detail with `items` line items (numbers, strings, nesting, an escape).
fn detail(items: usize) -> String {
    let lines: Vec<String> = (0..items)
        .map(|i| {
            format!(
                r#"{{"sku":"SKU-{i:05}","name":"Item \"{i}\" – déjà vu","quantity":{q},"price":{p}.99,"tags":["a","b"],"gift":false}}"#,
                q = i % 7 + 1,
                p = i * 3 % 100
            )
        })
        .collect();
    format!(
        r#"{{"orderId":"o-42","customer":{{"id":7,"tier":"gold"}},"total":1234.5e0,"items":[{}]}}"#,
        lines.join(",")
    )
}

fn add_field(c: &mut Criterion) {
    for document in [
        r#"{"order":42,"items":[1,2,3]}"#.to_owned(),
        detail(8),
        detail(128),
    ] {
        let mut group = c.benchmark_group(format!("add_field/{}B", document.len()));
        group.bench_function("baton", |b| {
            b.iter(|| {
                let probe = baton::json::probe_object(black_box(&document), "traceHeader").unwrap();
                baton::json::insert_string_field(
                    &document,
                    probe.empty,
                    "traceHeader",
                    black_box(HEADER),
                    0,
                    usize::MAX,
                )
                .unwrap()
            })
        });
        group.bench_function("serde_json_value", |b| {
            b.iter(|| {
                let mut value: serde_json::Value =
                    serde_json::from_str(black_box(&document)).unwrap();
                let object = value.as_object_mut().unwrap();
                if !object.contains_key("traceHeader") {
                    object.insert("traceHeader".into(), black_box(HEADER).into());
                }
                serde_json::to_string(&value).unwrap()
            })
        });
        group.finish();
    }
}

criterion_group!(benches, add_field);
criterion_main!(benches);
