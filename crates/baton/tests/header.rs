//! Table-driven tests of the X-Ray trace header: valid and invalid input, canonical output,
//! conversion to and from `SpanContext`, and properties that hold for any input.

use baton::{HeaderError, MAX_HEADER_LEN, Sampled, TraceHeader, format_header, is_deferred};
use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use proptest::prelude::*;

struct Valid {
    input: &'static str,
    trace_id: &'static str,
    parent: Option<&'static str>,
    sampled: Sampled,
    lineage: Option<&'static str>,
    self_id: Option<&'static str>,
    unknown: &'static [(&'static str, &'static str)],
    canonical: &'static str,
}

#[rustfmt::skip]
const VALID: &[Valid] = &[
    // The examples of the AWS X-Ray developer guide ("Tracing header").
    Valid { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
            trace_id: "5759e988bd862e3fe1be46a994272793", parent: None, sampled: Sampled::Yes,
            lineage: None, self_id: None, unknown: &[],
            canonical: "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1" },
    Valid { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            trace_id: "5759e988bd862e3fe1be46a994272793", parent: Some("53995c3f42cd8ad8"), sampled: Sampled::Yes,
            lineage: None, self_id: None, unknown: &[],
            canonical: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1" },
    // Application Load Balancer (its documented Self value has 23 hex digits; kept as given).
    Valid { input: "Self=1-67891234-12456789abcdef012345678;Root=1-67891233-abcdef012345678912345678",
            trace_id: "67891233abcdef012345678912345678", parent: None, sampled: Sampled::Deferred,
            lineage: None, self_id: Some("1-67891234-12456789abcdef012345678"), unknown: &[],
            canonical: "Self=1-67891234-12456789abcdef012345678;Root=1-67891233-abcdef012345678912345678" },
    // Deferred decision, explicit.
    Valid { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=?",
            trace_id: "5759e988bd862e3fe1be46a994272793", parent: Some("53995c3f42cd8ad8"), sampled: Sampled::Deferred,
            lineage: None, self_id: None, unknown: &[],
            canonical: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=?" },
    Valid { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0",
            trace_id: "5759e988bd862e3fe1be46a994272793", parent: Some("53995c3f42cd8ad8"), sampled: Sampled::No,
            lineage: None, self_id: None, unknown: &[],
            canonical: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0" },
    // Lambda lineage, current and older forms.
    Valid { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=1:a87bd80c:1",
            trace_id: "5759e988bd862e3fe1be46a994272793", parent: Some("53995c3f42cd8ad8"), sampled: Sampled::Yes,
            lineage: Some("1:a87bd80c:1"), self_id: None, unknown: &[],
            canonical: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=1:a87bd80c:1" },
    Valid { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1|68fd508a:5",
            trace_id: "5759e988bd862e3fe1be46a994272793", parent: Some("53995c3f42cd8ad8"), sampled: Sampled::Yes,
            lineage: Some("a87bd80c:1|68fd508a:5"), self_id: None, unknown: &[],
            canonical: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1|68fd508a:5" },
    // Keys in any case, spaces around everything, fields in any order, empty segments.
    Valid { input: "  parent = 53995C3F42CD8AD8 ; ROOT=1-5759E988-BD862E3FE1BE46A994272793 ;sampled= 1 ;; ",
            trace_id: "5759e988bd862e3fe1be46a994272793", parent: Some("53995c3f42cd8ad8"), sampled: Sampled::Yes,
            lineage: None, self_id: None, unknown: &[],
            canonical: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1" },
    // Unknown fields are kept, in order.
    Valid { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Foo=bar;Parent=53995c3f42cd8ad8;x-tenant=42",
            trace_id: "5759e988bd862e3fe1be46a994272793", parent: Some("53995c3f42cd8ad8"), sampled: Sampled::Deferred,
            lineage: None, self_id: None, unknown: &[("Foo", "bar"), ("x-tenant", "42")],
            canonical: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Foo=bar;x-tenant=42" },
    // The same Root twice is not a conflict.
    Valid { input: "Root=1-5759e988-bd862e3fe1be46a994272793;root=1-5759e988-bd862e3fe1be46a994272793",
            trace_id: "5759e988bd862e3fe1be46a994272793", parent: None, sampled: Sampled::Deferred,
            lineage: None, self_id: None, unknown: &[],
            canonical: "Root=1-5759e988-bd862e3fe1be46a994272793" },
];

#[test]
fn valid_headers() {
    for case in VALID {
        let header = TraceHeader::parse(case.input)
            .unwrap_or_else(|e| panic!("{:?} should parse: {e}", case.input));
        assert_eq!(
            header.trace_id().to_string(),
            case.trace_id,
            "{}",
            case.input
        );
        assert_eq!(
            header.parent_id().map(|p| p.to_string()).as_deref(),
            case.parent,
            "{}",
            case.input
        );
        assert_eq!(header.sampled(), case.sampled, "{}", case.input);
        assert_eq!(header.lineage(), case.lineage, "{}", case.input);
        assert_eq!(header.self_id(), case.self_id, "{}", case.input);
        assert_eq!(
            header.unknown_fields().collect::<Vec<_>>(),
            case.unknown,
            "{}",
            case.input
        );
        assert!(
            header.dropped().is_empty(),
            "{}: {:?}",
            case.input,
            header.dropped()
        );
        assert_eq!(header.to_string(), case.canonical, "{}", case.input);
        // The canonical form parses back to the same header content.
        let again = TraceHeader::parse(case.canonical).unwrap();
        assert_eq!(again.to_string(), case.canonical);
    }
}

#[rustfmt::skip]
const INVALID: &[(&str, HeaderError)] = &[
    ("", HeaderError::Empty),
    ("   ", HeaderError::Empty),
    (";;", HeaderError::MissingRoot),
    ("Parent=53995c3f42cd8ad8;Sampled=1", HeaderError::MissingRoot),
    ("Root", HeaderError::MissingRoot),
    ("Root=1-5759e988-bd862e3fe1be46a994272793\u{a0}", HeaderError::InvalidRoot),
    ("Root=", HeaderError::InvalidRoot),
    ("Root=2-5759e988-bd862e3fe1be46a994272793", HeaderError::InvalidRoot),
    ("Root=1-5759e98-bd862e3fe1be46a994272793", HeaderError::InvalidRoot),
    ("Root=1-5759e988-bd862e3fe1be46a99427279", HeaderError::InvalidRoot),
    ("Root=1-5759e988-bd862e3fe1be46a9942727933", HeaderError::InvalidRoot),
    ("Root=1-5759e98g-bd862e3fe1be46a994272793", HeaderError::InvalidRoot),
    ("Root=1_5759e988_bd862e3fe1be46a994272793", HeaderError::InvalidRoot),
    ("Root=1-00000000-000000000000000000000000", HeaderError::InvalidRoot),
    ("Root=1-5759e988-bd862e3fe1be46a99427279é", HeaderError::InvalidRoot),
    ("Root=5759e988bd862e3fe1be46a994272793", HeaderError::InvalidRoot),
    // Only Root makes a header unusable; malformed or conflicting Parents are left out alone
    // (tests/header_rules.rs).
    ("Root=1-5759e988-bd862e3fe1be46a994272793;Root=1-5759e988-bd862e3fe1be46a994272794", HeaderError::Conflicting { field: "Root" }),
    ("traceparent=00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01", HeaderError::MissingRoot),
];

#[test]
fn invalid_headers() {
    for (input, expected) in INVALID {
        assert_eq!(
            TraceHeader::parse(input).as_ref(),
            Err(expected),
            "{input:?}"
        );
        // Every error explains itself.
        assert!(!expected.to_string().is_empty());
    }
    // Length alone never makes a header unusable (what is passed on from it is bounded).
    let long = format!(
        "Root=1-5759e988-bd862e3fe1be46a994272793;Foo={}",
        "a".repeat(MAX_HEADER_LEN)
    );
    let header = TraceHeader::parse(&long).unwrap();
    assert_eq!(header.unknown_fields().count(), 1);
}

#[rustfmt::skip]
const DROPPED: &[(&str, &str, &str)] = &[
    // (input, which optional field was dropped, canonical output)
    ("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=yes", "Sampled",
     "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8"),
    ("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Lineage=a87bd80c,1", "Lineage",
     "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8"),
    ("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Lineage=<script>", "Lineage",
     "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8"),
    ("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Self=", "Self",
     "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8"),
    ("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Fo o=bar,baz", "unknown",
     "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8"),
];

#[test]
fn malformed_optional_fields_are_dropped_alone() {
    for (input, field, canonical) in DROPPED {
        let header = TraceHeader::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        let dropped = header.dropped();
        let got = [
            ("Sampled", dropped.sampled()),
            ("Lineage", dropped.lineage()),
            ("Self", dropped.self_field()),
            ("unknown", dropped.unknown()),
        ];
        for (name, set) in got {
            assert_eq!(set, name == *field, "{input}: {name} in {dropped:?}");
        }
        assert_eq!(header.to_string(), *canonical);
        assert_eq!(header.parent_id().unwrap().to_string(), "53995c3f42cd8ad8");
    }
    // A malformed Sampled beside a good one: the two disagree, so neither is trusted.
    let header =
        TraceHeader::parse("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=x;Sampled=0").unwrap();
    assert_eq!(header.sampled(), Sampled::Deferred);
    assert!(header.dropped().sampled());
    assert_eq!(
        header.to_string(),
        "Root=1-5759e988-bd862e3fe1be46a994272793"
    );

    let long_lineage = format!(
        "Root=1-5759e988-bd862e3fe1be46a994272793;Lineage={}",
        "a".repeat(257)
    );
    assert!(
        TraceHeader::parse(&long_lineage)
            .unwrap()
            .dropped()
            .lineage()
    );
}

#[test]
fn span_context_is_exact() {
    let trace_id = TraceId::from_hex("5759e988bd862e3fe1be46a994272793").unwrap();
    let span_id = SpanId::from_hex("53995c3f42cd8ad8").unwrap();
    let base = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8";

    let sampled = TraceHeader::parse(&format!("{base};Sampled=1"))
        .unwrap()
        .span_context()
        .unwrap();
    assert_eq!(
        sampled,
        SpanContext::new(
            trace_id,
            span_id,
            TraceFlags::SAMPLED,
            true,
            TraceState::NONE
        )
    );
    let not = TraceHeader::parse(&format!("{base};Sampled=0"))
        .unwrap()
        .span_context()
        .unwrap();
    assert_eq!(
        not,
        SpanContext::new(
            trace_id,
            span_id,
            TraceFlags::NOT_SAMPLED,
            true,
            TraceState::NONE
        )
    );
    for deferred in [format!("{base};Sampled=?"), base.to_string()] {
        let cx = TraceHeader::parse(&deferred)
            .unwrap()
            .span_context()
            .unwrap();
        assert!(cx.is_remote());
        assert!(
            cx.is_sampled(),
            "a deferred decision must not read as 'drop'"
        );
        assert!(is_deferred(&cx));
        assert_eq!((cx.trace_id(), cx.span_id()), (trace_id, span_id));
    }
    // No Parent: the header itself has no span context.
    let root_only =
        TraceHeader::parse("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1").unwrap();
    assert_eq!(root_only.span_context(), None);
}

#[test]
fn span_context_round_trips_through_the_header() {
    for sampled in ["0", "1", "?"] {
        let input = format!(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled={sampled}"
        );
        let cx = TraceHeader::parse(&input).unwrap().span_context().unwrap();
        assert_eq!(format_header(&cx).unwrap().to_string(), input);
    }
    assert!(format_header(&SpanContext::empty_context()).is_none());
}

#[test]
fn pass_on_keeps_lineage_and_unknown_fields_but_not_self() {
    let header = TraceHeader::parse(
        "Self=1-67891234-12456789abcdef012345678;Root=1-5759e988-bd862e3fe1be46a994272793;\
         Parent=53995c3f42cd8ad8;Sampled=1;Lineage=1:a87bd80c:1;Foo=bar",
    )
    .unwrap();
    let next = header.pass_on(SpanId::from_hex("00f067aa0ba902b7").unwrap(), Sampled::Yes);
    assert_eq!(
        next.to_string(),
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1;\
         Lineage=1:a87bd80c:1;Foo=bar"
    );
}

fn hex(len: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop::sample::select(b"0123456789abcdefABCDEF".to_vec()),
        len,
    )
    .prop_map(|b| String::from_utf8(b).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn no_input_panics(input in ".{0,300}") {
        let _ = TraceHeader::parse(&input).map(|h| (h.to_string(), h.span_context()));
    }

    #[test]
    fn no_header_like_input_panics(
        fields in proptest::collection::vec(
            ("(?i)(root|parent|sampled|lineage|self|[a-z]{1,4}) ?", " ?[-0-9a-fA-F:|?;= ]{0,40}"),
            0..8,
        ),
    ) {
        let input = fields
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";");
        if let Ok(header) = TraceHeader::parse(&input) {
            // What parses, formats to something that parses to the same thing.
            let text = header.to_string();
            let again = TraceHeader::parse(&text).unwrap();
            prop_assert_eq!(again.to_string(), text);
        }
    }

    #[test]
    fn generated_headers_round_trip(
        epoch in hex(8),
        random in hex(24),
        parent in hex(16),
        sampled in prop::sample::select(vec!["0", "1", "?"]),
    ) {
        let input = format!("Root=1-{epoch}-{random};Parent={parent};Sampled={sampled}");
        match TraceHeader::parse(&input) {
            Ok(header) => {
                prop_assert_eq!(header.to_string(), input.to_ascii_lowercase()
                    .replace("root=", "Root=").replace("parent=", "Parent=")
                    .replace("sampled=", "Sampled="));
                let cx = header.span_context().unwrap();
                let formatted = format_header(&cx).unwrap().to_string();
                prop_assert_eq!(formatted, header.to_string());
            }
            // Only all-zero ids are refused.
            Err(HeaderError::InvalidRoot) => {
                let all_zero = epoch.chars().chain(random.chars()).all(|c| c == '0');
                prop_assert!(all_zero);
            }
            Err(HeaderError::InvalidParent) => prop_assert!(parent.chars().all(|c| c == '0')),
            Err(other) => prop_assert!(false, "unexpected error {other}"),
        }
    }
}
