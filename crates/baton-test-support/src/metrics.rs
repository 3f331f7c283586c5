//! A meter whose recorded data points a test can read, exactly.

use std::collections::BTreeMap;

use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{
    InMemoryMetricExporter, PeriodicReader, SdkMeterProvider, Temporality,
};

/// One data point as a test compares it: the metric's name, its attributes sorted by key
/// (values as text), and its value: a counter's sum, or a histogram's count.
pub type Point = (String, BTreeMap<String, String>, u64);

/// One histogram data point: (attributes, count, sum, bucket bounds).
pub type HistogramPoint = (BTreeMap<String, String>, u64, f64, Vec<f64>);

/// A meter provider exporting (cumulatively) to memory; [`points`](Self::points) flushes and
/// reads what was recorded so far.
#[derive(Debug)]
pub struct Metrics {
    /// The provider.
    pub provider: SdkMeterProvider,
    exporter: InMemoryMetricExporter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A provider with nothing recorded yet.
    pub fn new() -> Self {
        let exporter = opentelemetry_sdk::metrics::InMemoryMetricExporterBuilder::new()
            .with_temporality(Temporality::Cumulative)
            .build();
        let provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter.clone()).build())
            .build();
        Metrics { provider, exporter }
    }

    /// A meter from this provider, named `test`.
    pub fn meter(&self) -> Meter {
        self.provider.meter("test")
    }

    /// Every data point recorded so far, sorted (name, then attributes); histograms as their
    /// counts. Flushes first.
    pub fn points(&self) -> Vec<Point> {
        self.provider
            .force_flush()
            .expect("flush the meter provider");
        let exported = self.exporter.get_finished_metrics().expect("read metrics");
        // Cumulative: the last export holds everything.
        let Some(last) = exported.last() else {
            return Vec::new();
        };
        let mut points = Vec::new();
        for scope in last.scope_metrics() {
            for metric in scope.metrics() {
                let name = metric.name().to_owned();
                let attributes = |kvs: &mut dyn Iterator<Item = &opentelemetry::KeyValue>| {
                    kvs.map(|kv| (kv.key.to_string(), kv.value.to_string()))
                        .collect::<BTreeMap<_, _>>()
                };
                match metric.data() {
                    AggregatedMetrics::U64(MetricData::Sum(sum)) => {
                        for point in sum.data_points() {
                            points.push((
                                name.clone(),
                                attributes(&mut point.attributes()),
                                point.value(),
                            ));
                        }
                    }
                    AggregatedMetrics::F64(MetricData::Histogram(histogram)) => {
                        for point in histogram.data_points() {
                            points.push((
                                name.clone(),
                                attributes(&mut point.attributes()),
                                point.count(),
                            ));
                        }
                    }
                    other => panic!("metric {name}: unexpected data {other:?}"),
                }
            }
        }
        points.sort();
        points
    }

    /// The histogram data points of `name`.
    pub fn histogram(&self, name: &str) -> Vec<HistogramPoint> {
        self.provider
            .force_flush()
            .expect("flush the meter provider");
        let exported = self.exporter.get_finished_metrics().expect("read metrics");
        let mut found = Vec::new();
        let Some(last) = exported.last() else {
            return found;
        };
        for scope in last.scope_metrics() {
            for metric in scope.metrics().filter(|m| m.name() == name) {
                if let AggregatedMetrics::F64(MetricData::Histogram(histogram)) = metric.data() {
                    for point in histogram.data_points() {
                        found.push((
                            point
                                .attributes()
                                .map(|kv| (kv.key.to_string(), kv.value.to_string()))
                                .collect(),
                            point.count(),
                            point.sum(),
                            point.bounds().collect(),
                        ));
                    }
                }
            }
        }
        found
    }
}

/// A [`Point`] from literals: `point("messaging.client.sent.messages", &[("messaging.system",
/// "aws_sqs")], 1)`.
pub fn point(name: &str, attributes: &[(&str, &str)], value: u64) -> Point {
    (
        name.to_owned(),
        attributes
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        value,
    )
}
