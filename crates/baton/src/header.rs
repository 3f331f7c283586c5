//! The AWS X-Ray trace header: `Root=1-{epoch}-{random};Parent={span};Sampled={0|1|?}`.
//!
//! [`TraceHeader::parse`] borrows from its input and never allocates; [`TraceHeader`]'s
//! `Display` writes the canonical form.
//!
//! The rules it reads by are documented on [`TraceHeader::parse`].

use std::fmt;

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

use crate::consts::{
    DEFERRED_STATE_KEY, DEFERRED_STATE_VALUE, MAX_HEADER_LEN, MAX_LINEAGE_LEN, UNSET_STATE_VALUE,
};

/// The sampling decision carried by a trace header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Sampled {
    /// `Sampled=1`: the trace is recorded; downstream must record it too.
    Yes,
    /// `Sampled=0`: the trace is not recorded; downstream must not start recording it.
    No,
    /// `Sampled=?`, or no `Sampled` field: no decision yet; the next sampler decides.
    /// ([`TraceHeader::sampled_field`] tells the two apart.)
    #[default]
    Deferred,
}

impl Sampled {
    fn as_str(self) -> &'static str {
        match self {
            Sampled::Yes => "1",
            Sampled::No => "0",
            Sampled::Deferred => "?",
        }
    }
}

/// Why a trace header could not be used.
///
/// [`TraceHeader::parse`] returns only `Empty`, `MissingRoot`, `InvalidRoot` and
/// `Conflicting { field: "Root" }`; the other variants describe rules of earlier versions
/// (every other field now degrades alone) and are kept so that code matching on them still
/// builds.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// The input was empty or only spaces and tabs.
    Empty,
    /// Not returned by [`TraceHeader::parse`] any more: input of any length is read.
    TooLong {
        /// Length of the input in bytes.
        len: usize,
        /// The largest accepted length in bytes.
        max: usize,
    },
    /// Not returned by [`TraceHeader::parse`] any more: such a segment is ignored
    /// ([`Dropped::segment`]).
    MissingEquals {
        /// Byte offset of the field in the input.
        at: usize,
    },
    /// There is no `Root` field.
    MissingRoot,
    /// The `Root` field is not `1-{8 hex digits}-{24 hex digits}`, or is all zeros.
    InvalidRoot,
    /// Not returned by [`TraceHeader::parse`] any more: such a `Parent` is left out
    /// ([`Dropped::parent`]).
    InvalidParent,
    /// The `Root` field appears twice with different values. (Two different `Parent` fields
    /// are left out instead, [`Dropped::parent`].)
    Conflicting {
        /// The canonical name of the repeated field.
        field: &'static str,
    },
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::Empty => f.write_str("trace header is empty"),
            HeaderError::TooLong { len, max } => {
                write!(
                    f,
                    "trace header is {len} bytes long; at most {max} are accepted"
                )
            }
            HeaderError::MissingEquals { at } => {
                write!(f, "trace header field at byte {at} has no '='")
            }
            HeaderError::MissingRoot => f.write_str("trace header has no Root field"),
            HeaderError::InvalidRoot => f.write_str(
                "trace header Root is not 1-{8 hex digits}-{24 hex digits} (or is all zeros)",
            ),
            HeaderError::InvalidParent => {
                f.write_str("trace header Parent is not 16 hex digits (or is all zeros)")
            }
            HeaderError::Conflicting { field } => {
                write!(f, "trace header has two different {field} fields")
            }
        }
    }
}

impl std::error::Error for HeaderError {}

/// Fields that [`TraceHeader::parse`] left out because they were malformed or contradicted
/// each other; the rest of the header was read as if they were absent.
///
/// A small bit set, so parsing stays allocation free.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Dropped(u8);

impl Dropped {
    const SAMPLED: u8 = 1;
    const LINEAGE: u8 = 2;
    const SELF: u8 = 4;
    const UNKNOWN: u8 = 8;
    const PARENT: u8 = 16;
    const SEGMENT: u8 = 32;

    /// Nothing was dropped.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// A `Parent` that was not 16 hex digits or was all zeros, or two different `Parent`
    /// values; the header was read as having no `Parent`, unless a well-formed one stood alone.
    pub fn parent(self) -> bool {
        self.0 & Self::PARENT != 0
    }
    /// A `Sampled` value other than `0`, `1` or `?`, or two different values.
    pub fn sampled(self) -> bool {
        self.0 & Self::SAMPLED != 0
    }
    /// A `Lineage` value outside its documented forms, or two different values.
    pub fn lineage(self) -> bool {
        self.0 & Self::LINEAGE != 0
    }
    /// A `Self` value that was empty or held characters that cannot be passed on safely, or
    /// two different values.
    pub fn self_field(self) -> bool {
        self.0 & Self::SELF != 0
    }
    /// An unknown field whose key or value held characters that cannot be passed on safely.
    pub fn unknown(self) -> bool {
        self.0 & Self::UNKNOWN != 0
    }
    /// A segment without `=`, or with an empty key.
    pub fn segment(self) -> bool {
        self.0 & Self::SEGMENT != 0
    }
    /// Whether what was dropped changes the trace the next hop receives (`Parent`, `Sampled`
    /// or `Lineage`), rather than only fields that are not passed on anyway.
    pub(crate) fn touches_trace(self) -> bool {
        self.0 & (Self::PARENT | Self::SAMPLED | Self::LINEAGE) != 0
    }
}

impl fmt::Debug for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_set();
        for (bit, name) in [
            (Self::PARENT, "Parent"),
            (Self::SAMPLED, "Sampled"),
            (Self::LINEAGE, "Lineage"),
            (Self::SELF, "Self"),
            (Self::UNKNOWN, "unknown"),
            (Self::SEGMENT, "segment"),
        ] {
            if self.0 & bit != 0 {
                list.entry(&name);
            }
        }
        list.finish()
    }
}

/// A parsed X-Ray trace header, borrowing from the text it was parsed from.
///
/// ```
/// use baton::{Sampled, TraceHeader};
///
/// let header = TraceHeader::parse(
///     "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
/// )?;
/// assert_eq!(header.sampled(), Sampled::Yes);
/// assert_eq!(
///     header.to_string(),
///     "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
/// );
/// # Ok::<(), baton::HeaderError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceHeader<'a> {
    root: TraceId,
    parent: Option<SpanId>,
    /// `None` when the header says nothing about sampling (kept apart from an explicit `?`).
    sampled: Option<Sampled>,
    self_id: Option<&'a str>,
    lineage: Option<&'a str>,
    /// The whole input, walked again to write unknown fields back out in their order.
    input: &'a str,
    has_unknown: bool,
    dropped: Dropped,
}

/// Optional whitespace: space and horizontal tab, nothing else.
fn trim_ows(text: &str) -> &str {
    text.trim_matches(|c| c == ' ' || c == '\t')
}

/// Splits a header into `(key, value)` fields, each trimmed of optional whitespace: `None` for a
/// segment without `=` or with an empty key. Empty segments (`;;`, a trailing `;`) are skipped.
/// One pass over the input.
fn fields(input: &str) -> impl Iterator<Item = Option<(&str, &str)>> {
    input.split(';').filter_map(|segment| {
        let segment = trim_ows(segment);
        if segment.is_empty() {
            return None;
        }
        Some(
            segment
                .split_once('=')
                .map(|(key, value)| (trim_ows(key), trim_ows(value)))
                .filter(|(key, _)| !key.is_empty()),
        )
    })
}

/// Hex digit values; 0xff marks a byte that is not a hex digit.
const HEX: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// Up to 16 hex digits into a `u64`.
fn hex_u64(digits: &[u8]) -> Option<u64> {
    let mut acc = 0u64;
    let mut bad = 0u8;
    for &d in digits {
        let v = HEX[d as usize];
        bad |= v;
        acc = (acc << 4) | u64::from(v & 0x0f);
    }
    // Any 0xff entry sets the high bit, which no digit value has.
    (bad & 0x80 == 0).then_some(acc)
}

/// `1-{8 hex}-{24 hex}` into a trace id (the two hex groups joined).
pub(crate) fn parse_xray_trace_id(value: &[u8]) -> Option<TraceId> {
    if value.len() != 35 || value[0] != b'1' || value[1] != b'-' || value[10] != b'-' {
        return None;
    }
    let epoch = hex_u64(&value[2..10])?;
    let mid = hex_u64(&value[11..19])?;
    let low = hex_u64(&value[19..35])?;
    let id = (u128::from(epoch) << 96) | (u128::from(mid) << 64) | u128::from(low);
    (id != 0).then(|| TraceId::from_bytes(id.to_be_bytes()))
}

fn parse_span_id(value: &[u8]) -> Option<SpanId> {
    if value.len() != 16 {
        return None;
    }
    let id = hex_u64(value)?;
    (id != 0).then(|| SpanId::from_bytes(id.to_be_bytes()))
}

fn parse_sampled(value: &[u8]) -> Option<Sampled> {
    match value {
        b"1" => Some(Sampled::Yes),
        b"0" => Some(Sampled::No),
        b"?" => Some(Sampled::Deferred),
        _ => None,
    }
}

/// The shape nearly every producer writes, `Root=…[;Parent=…][;Sampled=…]` in canonical
/// case and order with nothing else, read by position. `None` sends the input through the
/// general parser, which gives the same result for this shape.
fn parse_canonical(input: &str) -> Option<TraceHeader<'_>> {
    let b = input.as_bytes();
    let root = parse_xray_trace_id(b.strip_prefix(b"Root=")?.get(..35)?)?;
    let mut rest = &b[40..];
    let mut parent = None;
    if let Some(after) = rest.strip_prefix(b";Parent=") {
        parent = Some(parse_span_id(after.get(..16)?)?);
        rest = &after[16..];
    }
    let mut sampled = None;
    if let Some(after) = rest.strip_prefix(b";Sampled=") {
        sampled = Some(parse_sampled(after)?);
        rest = &[];
    }
    rest.is_empty().then_some(TraceHeader {
        root,
        parent,
        sampled,
        self_id: None,
        lineage: None,
        input,
        has_unknown: false,
        dropped: Dropped(0),
    })
}

/// A decimal number from 0 to `max` (at most 5 digits), written without leading zeros.
fn decimal_within(digits: &[u8], max: u32) -> bool {
    let canonical = digits == b"0" || digits.first().is_some_and(|&d| d != b'0');
    canonical
        && digits.len() <= 5
        && digits.iter().all(u8::is_ascii_digit)
        && digits
            .iter()
            .fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'))
            <= max
}

/// Eight lower-case hex digits (Lineage's function hash).
fn lineage_hash(hash: &[u8]) -> bool {
    hash.len() == 8 && hash.iter().all(|&b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `Lineage` in one of the forms AWS documents (see the module docs): the current
/// `<0..=32767>:<hash>:<0..=255>`, or the older list of `<hash>:<0..=255>` joined by `|`.
fn valid_lineage(value: &str) -> bool {
    if value.len() > MAX_LINEAGE_LEN {
        return false;
    }
    let bytes = value.as_bytes();
    let mut parts = bytes.split(|&b| b == b':');
    let current = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(counter), Some(hash), Some(count), None) => {
            decimal_within(counter, 32767) && lineage_hash(hash) && decimal_within(count, 255)
        }
        _ => false,
    };
    current
        || bytes.split(|&b| b == b'|').all(|entry| {
            let mut parts = entry.split(|&b| b == b':');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(hash), Some(count), None) => lineage_hash(hash) && decimal_within(count, 255),
                _ => false,
            }
        })
}

/// One field's values as they are read: none yet, one value (repeated or not), or values that
/// disagree, which leave the field out.
#[derive(Clone, Copy)]
enum Slot<T> {
    Empty,
    One(T),
    Conflict,
}

impl<T: PartialEq> Slot<T> {
    fn offer(&mut self, value: T) {
        *self = match std::mem::replace(self, Slot::Conflict) {
            Slot::Empty => Slot::One(value),
            Slot::One(first) if first == value => Slot::One(first),
            _ => Slot::Conflict,
        };
    }

    /// A value that could not be read: alone, the field is left out; beside a readable one, the
    /// two disagree and the field is left out too.
    fn poison(&mut self) {
        *self = Slot::Conflict;
    }

    /// The value, if exactly one was read; a conflict sets `bit` in `dropped`.
    fn take(self, dropped: &mut Dropped, bit: u8) -> Option<T> {
        match self {
            Slot::Empty => None,
            Slot::One(value) => Some(value),
            Slot::Conflict => {
                dropped.0 |= bit;
                None
            }
        }
    }
}

/// Unknown fields are passed on only when they cannot break the header or a carrier.
fn safe_unknown(key: &str, value: &str) -> bool {
    let ok = |b: u8| b.is_ascii_graphic() && b != b';' && b != b'=' && b != b',';
    !key.is_empty() && key.bytes().all(ok) && value.bytes().all(ok)
}

fn known_key(key: &str) -> Option<Known> {
    if key.eq_ignore_ascii_case("Root") {
        Some(Known::Root)
    } else if key.eq_ignore_ascii_case("Parent") {
        Some(Known::Parent)
    } else if key.eq_ignore_ascii_case("Sampled") {
        Some(Known::Sampled)
    } else if key.eq_ignore_ascii_case("Lineage") {
        Some(Known::Lineage)
    } else if key.eq_ignore_ascii_case("Self") {
        Some(Known::SelfId)
    } else {
        None
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Known {
    Root,
    Parent,
    Sampled,
    Lineage,
    SelfId,
}

impl<'a> TraceHeader<'a> {
    /// Parses an X-Ray trace header without allocating. Fails only when `Root` is missing,
    /// malformed or given twice with different values.
    ///
    /// # The rules
    /// - Fields are separated by `;`; keys are matched without regard to ASCII case. Space and
    ///   horizontal tab around fields, keys and values are ignored; no other character is (a
    ///   no-break space, CR, LF or NUL makes the key or value it touches malformed).
    /// - A header degrades field by field. Only `Root` decides whether it is usable: a missing or
    ///   malformed `Root`, or two different ones, make it unusable ([`HeaderError`]). Anything else
    ///   that is malformed is left out and named in [`TraceHeader::dropped`]: a `Parent` that is
    ///   not 16 hex digits or is all zeros (the header is then read as having no `Parent`), a
    ///   `Sampled` other than `0`, `1` or `?`, a `Lineage` outside its documented forms, a segment
    ///   without `=` or with an empty key.
    /// - Repeated fields: identical repeats are harmless. Two different `Parent`, `Sampled`,
    ///   `Lineage` or `Self` values are all left out, as if the field were absent (which one the
    ///   sender meant cannot be known), and so is a `Sampled` or `Lineage` given once well-formed
    ///   and once malformed; two different `Root` values make the header unusable.
    /// - `Lineage` (Lambda's recursive-loop detection trusts it) is kept only in its current form,
    ///   `<0..=32767>:<8 lower-case hex digits>:<0..=255>` (`25:a87bd80c:1`), or in the older list
    ///   form, entries `<8 lower-case hex digits>:<0..=255>` joined by `|`
    ///   (`a87bd80c:1|68fd508a:5`), which is kept verbatim; numbers without leading zeros, at most
    ///   [`MAX_LINEAGE_LEN`](crate::MAX_LINEAGE_LEN) bytes in all.
    /// - No `Sampled` field and `Sampled=?` both mean that no sampling decision has been made, and
    ///   samplers treat them alike; the difference is kept so that a header passed on as it came
    ///   does not gain a `Sampled=?` (see [`TraceHeader::sampled_field`]).
    /// - Input of any length is read, in time proportional to its length; what Baton writes for the
    ///   next hop stays within [`MAX_HEADER_LEN`](crate::MAX_HEADER_LEN) bytes.
    pub fn parse(input: &'a str) -> Result<Self, HeaderError> {
        match parse_canonical(input) {
            Some(header) => Ok(header),
            None => Self::parse_general(input),
        }
    }

    /// Field by field, in any order and case.
    fn parse_general(input: &'a str) -> Result<Self, HeaderError> {
        if trim_ows(input).is_empty() {
            return Err(HeaderError::Empty);
        }
        let mut root = None;
        let mut parent = Slot::Empty;
        let mut sampled = Slot::Empty;
        let mut self_id = Slot::Empty;
        let mut lineage = Slot::Empty;
        let mut has_unknown = false;
        let mut dropped = Dropped::default();

        for field in fields(input) {
            let Some((key, value)) = field else {
                dropped.0 |= Dropped::SEGMENT;
                continue;
            };
            match known_key(key) {
                Some(Known::Root) => {
                    let id =
                        parse_xray_trace_id(value.as_bytes()).ok_or(HeaderError::InvalidRoot)?;
                    if root.is_some_and(|r| r != id) {
                        return Err(HeaderError::Conflicting { field: "Root" });
                    }
                    root = Some(id);
                }
                Some(Known::Parent) => match parse_span_id(value.as_bytes()) {
                    Some(id) => parent.offer(id),
                    None => dropped.0 |= Dropped::PARENT,
                },
                // A malformed repeat of Sampled or Lineage makes the field unknown rather than
                // leaving the well-formed value standing: which one the sender meant cannot be
                // known, and Lambda's loop detection trusts Lineage.
                Some(Known::Sampled) => match parse_sampled(value.as_bytes()) {
                    Some(value) => sampled.offer(value),
                    None => sampled.poison(),
                },
                Some(Known::Lineage) => {
                    if valid_lineage(value) {
                        lineage.offer(value);
                    } else {
                        lineage.poison();
                    }
                }
                Some(Known::SelfId) => {
                    // Kept as given (load balancers have been seen writing ids of odd
                    // lengths); it is only ever echoed, never interpreted.
                    if safe_unknown(key, value) && !value.is_empty() {
                        self_id.offer(value);
                    } else {
                        dropped.0 |= Dropped::SELF;
                    }
                }
                None => {
                    if safe_unknown(key, value) {
                        has_unknown = true;
                    } else {
                        dropped.0 |= Dropped::UNKNOWN;
                    }
                }
            }
        }
        let root = root.ok_or(HeaderError::MissingRoot)?;
        Ok(TraceHeader {
            root,
            parent: parent.take(&mut dropped, Dropped::PARENT),
            sampled: sampled.take(&mut dropped, Dropped::SAMPLED),
            self_id: self_id.take(&mut dropped, Dropped::SELF),
            lineage: lineage.take(&mut dropped, Dropped::LINEAGE),
            input,
            has_unknown,
            dropped,
        })
    }

    /// The trace id from `Root`.
    pub fn trace_id(&self) -> TraceId {
        self.root
    }

    /// The parent segment id from `Parent`, if the header has one.
    pub fn parent_id(&self) -> Option<SpanId> {
        self.parent
    }

    /// The sampling decision; [`Sampled::Deferred`] when the header has no `Sampled` field
    /// (for a sampler, no field and `Sampled=?` mean the same: nobody has decided yet).
    pub fn sampled(&self) -> Sampled {
        self.sampled.unwrap_or_default()
    }

    /// The `Sampled` field as the header has it: `None` when there is none (or none was kept,
    /// see [`dropped`](Self::dropped)), `Some(Sampled::Deferred)` for an explicit `Sampled=?`.
    /// A header passed on as it came keeps this distinction: no field stays no field.
    pub fn sampled_field(&self) -> Option<Sampled> {
        self.sampled
    }

    /// The `Lineage` field (Lambda's recursive-loop detection), if present and well formed.
    pub fn lineage(&self) -> Option<&'a str> {
        self.lineage
    }

    /// The `Self` field that a load balancer adds, if present and well formed.
    pub fn self_id(&self) -> Option<&'a str> {
        self.self_id
    }

    /// Optional fields that were malformed and left out.
    pub fn dropped(&self) -> Dropped {
        self.dropped
    }

    /// Fields other than `Root`, `Parent`, `Sampled`, `Lineage` and `Self`, in input order,
    /// as `(key, value)`; malformed ones are left out.
    pub fn unknown_fields(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let input = if self.has_unknown { self.input } else { "" };
        fields(input)
            .flatten()
            .filter(|&(key, value)| known_key(key).is_none() && safe_unknown(key, value))
    }

    /// Only this header's trace: `Root`, `Parent`, `Sampled` and `Lineage`, without `Self`
    /// and unknown fields (at most 339 bytes written), for carriers with a tighter limit than
    /// X-Ray's own.
    ///
    /// ```
    /// let header = baton::TraceHeader::parse(
    ///     "Self=1-67891233-12456789abcdef012345678;Root=1-5759e988-bd862e3fe1be46a994272793;\
    ///      Parent=53995c3f42cd8ad8;Sampled=1;Lineage=1:a87bd80c:1;Big=xyz",
    /// )?;
    /// assert_eq!(
    ///     header.trace_only().to_string(),
    ///     "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;\
    ///      Lineage=1:a87bd80c:1"
    /// );
    /// # Ok::<(), baton::HeaderError>(())
    /// ```
    pub fn trace_only(self) -> Self {
        TraceHeader {
            has_unknown: false,
            self_id: None,
            ..self
        }
    }

    /// Writes `Lineage` and the unknown fields, in that order, as `;key=value` each, as many as
    /// fit in `max` bytes; the first that does not fit and all after it are left out
    /// (`Lineage`, at most 265 bytes so written, always fits a pass-on tail). With `count`,
    /// returns how many were left out (the rest of the header is walked to count them);
    /// without, stops at the first that does not fit and returns 0 or 1.
    pub(crate) fn write_tail(
        &self,
        out: &mut impl fmt::Write,
        max: usize,
        count: bool,
    ) -> Result<usize, fmt::Error> {
        let (mut used, mut dropped) = (0usize, 0usize);
        let fields = self
            .lineage
            .map(|lineage| ("Lineage", lineage))
            .into_iter()
            .chain(self.unknown_fields());
        for (key, value) in fields {
            used += key.len() + value.len() + 2;
            if dropped > 0 || used > max {
                dropped += 1;
                if count {
                    continue;
                }
                break;
            }
            for part in [";", key, "=", value] {
                out.write_str(part)?;
            }
        }
        Ok(dropped)
    }

    /// The remote span context this header describes, or `None` if it has no `Parent`.
    ///
    /// `Sampled=1` sets the sampled flag; `Sampled=0` leaves it clear; a deferred decision
    /// (`?` or no field) sets the sampled flag *and* marks the trace state (see
    /// [`is_deferred`](crate::is_deferred)), so that a plain `ParentBased` sampler keeps the
    /// trace rather than dropping it, and [`XrayParentBased`](crate::XrayParentBased) lets its
    /// root sampler decide. The mark also remembers which of the two it was, so that a header
    /// written from this context (or a child span's that kept its trace state) says `?` only
    /// if this one did.
    pub fn span_context(&self) -> Option<SpanContext> {
        let parent = self.parent?;
        Some(span_context_for(self.root, parent, self.sampled))
    }

    /// Writes the header for the next hop: this header's `Root`, `Lineage` and unknown fields,
    /// with a new parent and sampling decision. `Self` is not passed on: it names the load
    /// balancer's own trace, not the next hop's. The header written stays within
    /// [`MAX_HEADER_LEN`](crate::MAX_HEADER_LEN) bytes however long the input was: an unknown
    /// field that would push it over, and those after it, are left out.
    pub fn pass_on(&self, parent: SpanId, sampled: Sampled) -> PassOn<'a> {
        PassOn {
            header: *self,
            parent,
            sampled,
        }
    }
}

/// Builds the span context for `root`/`parent`/`sampled` (`None`: no `Sampled` field).
pub(crate) fn span_context_for(
    root: TraceId,
    parent: SpanId,
    sampled: Option<Sampled>,
) -> SpanContext {
    let (flags, state) = match sampled {
        Some(Sampled::Yes) => (TraceFlags::SAMPLED, TraceState::NONE),
        Some(Sampled::No) => (TraceFlags::NOT_SAMPLED, TraceState::NONE),
        Some(Sampled::Deferred) => (TraceFlags::SAMPLED, deferred_state(DEFERRED_STATE_VALUE)),
        None => (TraceFlags::SAMPLED, deferred_state(UNSET_STATE_VALUE)),
    };
    SpanContext::new(root, parent, flags, true, state)
}

fn deferred_state(value: &str) -> TraceState {
    TraceState::NONE
        .insert(DEFERRED_STATE_KEY, value)
        .unwrap_or(TraceState::NONE)
}

/// Is the sampling decision of this span context still open (`Sampled=?` or no `Sampled`
/// field upstream, and no Baton-aware sampler has decided since)?
///
/// Both mean the same to a sampler: nobody has decided. A plain `ParentBased` sampler sees
/// the sampled flag and records the trace; [`XrayParentBased`](crate::XrayParentBased) lets its
/// root sampler decide, and later hops receive that decision.
pub fn is_deferred(span_context: &SpanContext) -> bool {
    matches!(
        span_context.trace_state().get(DEFERRED_STATE_KEY),
        Some(DEFERRED_STATE_VALUE | UNSET_STATE_VALUE)
    )
}

/// The `Sampled` field an X-Ray header written for this span context carries: `None` when
/// the decision is still open because the upstream header had no `Sampled` field (so the
/// header passed on has none either).
fn sampled_field_of(span_context: &SpanContext) -> Option<Sampled> {
    match span_context.trace_state().get(DEFERRED_STATE_KEY) {
        Some(UNSET_STATE_VALUE) => None,
        _ => Some(sampled_of(span_context)),
    }
}

/// `span_context` without Baton's private deferred-sampling marker in its trace state, for
/// carriers other than the X-Ray header (W3C `tracestate` must not carry it to other tracers);
/// `None` if there is no marker to remove.
pub fn without_deferred_marker(span_context: &SpanContext) -> Option<SpanContext> {
    is_deferred(span_context).then(|| {
        SpanContext::new(
            span_context.trace_id(),
            span_context.span_id(),
            span_context.trace_flags(),
            span_context.is_remote(),
            span_context
                .trace_state()
                .delete(DEFERRED_STATE_KEY)
                .unwrap_or_default(),
        )
    })
}

/// The sampling decision of a span context as an X-Ray header writes it
/// ([`Sampled::Deferred`] for an open decision, whether upstream said `?` or nothing).
pub fn sampled_of(span_context: &SpanContext) -> Sampled {
    if is_deferred(span_context) {
        Sampled::Deferred
    } else if span_context.is_sampled() {
        Sampled::Yes
    } else {
        Sampled::No
    }
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Writes `bytes` as lowercase hex into `out` (twice as long).
fn put_hex(out: &mut [u8], bytes: &[u8]) {
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX_DIGITS[usize::from(byte >> 4)];
        pair[1] = HEX_DIGITS[usize::from(byte & 0x0f)];
    }
}

/// `Root=1-{8 hex}-{24 hex}`, written without the formatting machinery.
fn root_bytes(id: TraceId) -> [u8; 40] {
    let mut out = *b"Root=1-00000000-000000000000000000000000";
    let bytes = id.to_bytes();
    put_hex(&mut out[7..15], &bytes[..4]);
    put_hex(&mut out[16..40], &bytes[4..]);
    out
}

fn write_root(f: &mut fmt::Formatter<'_>, id: TraceId) -> fmt::Result {
    // The buffer holds ASCII only.
    f.write_str(std::str::from_utf8(&root_bytes(id)).map_err(|_| fmt::Error)?)
}

impl fmt::Display for TraceHeader<'_> {
    /// The canonical form: `Self`, `Root`, `Parent`, `Sampled`, `Lineage`, then unknown fields
    /// in input order. `Sampled` is written only if the input had it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(self_id) = self.self_id {
            write!(f, "Self={self_id};")?;
        }
        write_root(f, self.root)?;
        if let Some(parent) = self.parent {
            write!(f, ";Parent={parent}")?;
        }
        if let Some(sampled) = self.sampled {
            write!(f, ";Sampled={}", sampled.as_str())?;
        }
        self.write_tail(f, usize::MAX, false).map(drop)
    }
}

/// The most a header's tail (`;Lineage=…` and unknown fields) may take in a header Baton
/// writes for the next hop, so that `Root`, `Parent` and `Sampled` (74 bytes) plus the tail
/// stay within [`MAX_HEADER_LEN`], which every reader (Baton's included) holds headers to.
pub(crate) const MAX_PASSED_TAIL: usize = MAX_HEADER_LEN - 74;

/// A header for the next hop, made by [`TraceHeader::pass_on`]; write it with `Display`.
#[derive(Clone, Copy, Debug)]
pub struct PassOn<'a> {
    header: TraceHeader<'a>,
    parent: SpanId,
    sampled: Sampled,
}

impl fmt::Display for PassOn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_root(f, self.header.root)?;
        write!(
            f,
            ";Parent={};Sampled={}",
            self.parent,
            self.sampled.as_str()
        )?;
        self.header.write_tail(f, MAX_PASSED_TAIL, false).map(drop)
    }
}

/// Formats a span context as an X-Ray trace header (`Root`, `Parent`, `Sampled`), or `None`
/// if the context is invalid. `Sampled` is left out when the context's decision is open
/// because its upstream header had no `Sampled` field (see [`is_deferred`]).
///
/// ```
/// use baton::{format_header, TraceHeader};
///
/// let input = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0";
/// let context = TraceHeader::parse(input)?.span_context().unwrap();
/// assert_eq!(format_header(&context).unwrap().to_string(), input);
/// # Ok::<(), baton::HeaderError>(())
/// ```
pub fn format_header(span_context: &SpanContext) -> Option<HeaderFormat> {
    span_context.is_valid().then(|| HeaderFormat {
        trace_id: span_context.trace_id(),
        parent: span_context.span_id(),
        sampled: sampled_field_of(span_context),
    })
}

/// The X-Ray header of one span context, written with `Display` (no allocation of its own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderFormat {
    trace_id: TraceId,
    parent: SpanId,
    sampled: Option<Sampled>,
}

impl HeaderFormat {
    /// The header in a fixed-size ASCII buffer, and how much of it is used: no allocation, no
    /// formatting machinery.
    fn to_bytes(self) -> ([u8; 74], usize) {
        let mut out = [0u8; 74];
        out[..40].copy_from_slice(&root_bytes(self.trace_id));
        out[40..48].copy_from_slice(b";Parent=");
        put_hex(&mut out[48..64], &self.parent.to_bytes());
        let Some(sampled) = self.sampled else {
            return (out, 64);
        };
        out[64..73].copy_from_slice(b";Sampled=");
        out[73] = sampled.as_str().as_bytes()[0];
        (out, 74)
    }

    /// Appends the header to `out` (no formatting machinery).
    pub(crate) fn push_to(self, out: &mut String) {
        let (bytes, len) = self.to_bytes();
        // Always ASCII: fixed text, hex digits and one of `0`, `1`, `?`.
        if let Ok(text) = std::str::from_utf8(&bytes[..len]) {
            out.push_str(text);
        }
    }
}

impl fmt::Display for HeaderFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (bytes, len) = self.to_bytes();
        f.write_str(std::str::from_utf8(&bytes[..len]).map_err(|_| fmt::Error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn pass_on_stays_within_the_header_limit() {
        let input = format!(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Lineage=1:a87bd80c:1;Keep=me;Big={}",
            "a".repeat(MAX_HEADER_LEN - 74)
        );
        let header = TraceHeader::parse(&input).unwrap();
        let out = header
            .pass_on(SpanId::from_bytes([1; 8]), Sampled::Yes)
            .to_string();
        assert_eq!(
            out,
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0101010101010101;Sampled=1;\
             Lineage=1:a87bd80c:1;Keep=me"
        );
    }

    proptest! {
        /// The positional fast path and the general parser agree wherever the fast path answers.
        #[test]
        fn fast_path_agrees_with_the_general_parser(
            root in "Root=1-[0-9a-fA-F]{8}-[0-9a-fA-F]{24}",
            parent in proptest::option::of("[0-9a-fA-F]{16}"),
            sampled in proptest::option::of("[01?x]"),
            tail in prop::sample::select(vec!["", ";", ";Lineage=1:a:1", " ", "x"]),
        ) {
            let mut input = root;
            if let Some(p) = parent {
                input.push_str(";Parent=");
                input.push_str(&p);
            }
            if let Some(s) = sampled {
                input.push_str(";Sampled=");
                input.push_str(&s);
            }
            input.push_str(tail);
            let general = TraceHeader::parse_general(&input);
            if let Some(fast) = parse_canonical(&input) {
                prop_assert_eq!(Ok(fast), general.clone());
            }
            prop_assert_eq!(TraceHeader::parse(&input), general);
        }
    }
}
