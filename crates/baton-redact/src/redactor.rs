//! The redaction policy and its application to attributes and spans.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use opentelemetry::trace::Status;
use opentelemetry::{Array, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::SpanData;

use crate::keys::{DEFAULT_DENIED, DEFAULT_EXEMPT, DenyEntry, DenyList, is_body_key};
use crate::scan::{mask_cards, mask_emails};

/// What replaces the value of a denied key by default.
pub const DEFAULT_MASK: &str = "[REDACTED]";
/// What replaces an e-mail address inside a string value.
pub const EMAIL_MASK: &str = "[EMAIL]";
/// What replaces a payment card number inside a string value.
pub const CARD_MASK: &str = "[CARD]";

/// The attribute that names a message's destination (queue, topic, bus).
const DESTINATION_KEY: &str = "messaging.destination.name";

/// A built-in value pattern, found by a hand-written scanner (no regular expressions).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pattern {
    /// E-mail addresses (`local@domain.tld`), replaced by [`EMAIL_MASK`].
    ///
    /// The local part is a run of ASCII letters, digits and `. _ % + -`; the domain has at
    /// least two dot-separated labels of ASCII letters, digits and `-`, the last of two or
    /// more letters. `a@b` (no dot) and `@mention` (no local part) are not addresses;
    /// neither are addresses at an IP literal or with non-ASCII characters (not masked).
    Email,
    /// Payment card numbers, replaced by [`CARD_MASK`].
    ///
    /// 13 to 19 digits, whole or in groups split by single spaces or single dashes (one kind
    /// per number), first digit 2 to 6 (Visa, Mastercard, Amex, Discover, JCB, Diners,
    /// UnionPay, Maestro), passing the Luhn check. Digits touching a letter, another digit,
    /// `_` or a decimal point are part of an identifier or a number and left alone, as are
    /// unbroken runs of more than 19 digits. A 16-digit identifier that starts with 2 to 6
    /// and passes the Luhn check (about one in fifty random numbers) is masked too.
    PaymentCard,
}

/// What to do with the attribute of a denied key.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum KeyAction {
    /// Keep the key, replace the value with the mask (a string, whatever the value's type
    /// was), so that readers see something was there. The default.
    #[default]
    Mask,
    /// Remove the attribute.
    Drop,
}

/// A user-supplied value masker: returns the masked text, or `None` when there is nothing
/// to mask.
type Masker = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// How many attributes one call changed.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Summary {
    /// Attributes of a denied key whose value was replaced by the mask (not counting values
    /// that were the mask already).
    pub masked_keys: usize,
    /// Attributes whose string value (or some element of a string array) was masked by a
    /// value pattern.
    pub masked_values: usize,
    /// Attributes removed: message bodies not allowed, and denied keys under
    /// [`KeyAction::Drop`].
    pub dropped: usize,
}

impl Summary {
    /// Whether nothing was changed.
    pub fn is_empty(&self) -> bool {
        self.masked_keys == 0 && self.masked_values == 0 && self.dropped == 0
    }

    fn add(&mut self, other: Summary) {
        self.masked_keys += other.masked_keys;
        self.masked_values += other.masked_values;
        self.dropped += other.dropped;
    }
}

/// The redaction policy: which keys are secret, which value patterns are masked, and which
/// destinations may have their message bodies recorded.
///
/// [`Redactor::new`] (also `Default`) starts from the defaults: the keys `authorization`,
/// `cookie`, `set-cookie`, `x-api-key`, `password`, `secret` and `token` (plus `api-key`,
/// `apikey`, `passwd`, `credential`, `credentials` and `private-key`) denied and masked
/// with [`DEFAULT_MASK`]; `gen_ai.token.type` exempt; e-mail addresses and payment card
/// numbers masked inside string values; no message bodies. Change it with the `with_*`
/// and `without_*` methods, which take and return the redactor.
///
/// # Denied keys
///
/// A key is read as dot-separated segments made of words: words are separated by `_`, `-`
/// and every other ASCII character that is not a letter or digit, and by camelCase
/// (`accessToken` is `access` + `Token`). A denied entry matches when its words appear
/// together, in order, inside one segment, ignoring ASCII case. So `token` matches
/// `auth.token`, `refresh_token`, `accessToken` and `oauth.token.expiry`, but not
/// `tokens_used`, `gen_ai.usage.input_tokens` or `tokenizer` (a different word); and
/// `x-api-key` matches `x_api_key` and `xApiKey`. Compounds written as one lower-case word
/// (`accesstoken`) are not split and not matched unless listed (`apikey` is): add them as entries of their
/// own. An entry that contains a dot (`session.id`) matches only that whole key.
///
/// # Message bodies
///
/// An attribute carries a message body when its key starts with `messaging.` and its last
/// segment is `body` or `payload` (ASCII case ignored): `messaging.message.body`,
/// `messaging.message.payload`, `messaging.sqs.body`, but not `messaging.message.body.size`.
/// Add other keys with [`with_body_key`](Self::with_body_key). Bodies are removed unless
/// the span's `messaging.destination.name` is exactly one of the destinations given to
/// [`with_bodies_for`](Self::with_bodies_for); allowed bodies still go through value
/// masking.
///
/// # Value masking
///
/// String values, and every element of string arrays, are scanned for the enabled
/// [`Pattern`]s, then passed to each custom masker in the order added; only the matching
/// parts are replaced (`order for jane@example.com` becomes `order for [EMAIL]`). Numbers,
/// booleans and keys are never scanned.
#[derive(Clone)]
pub struct Redactor {
    denied: DenyList,
    exempt: Vec<Box<str>>,
    body_keys: Vec<Box<str>>,
    body_destinations: Vec<Box<str>>,
    key_action: KeyAction,
    mask: StringValue,
    emails: bool,
    cards: bool,
    maskers: Vec<Masker>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("denied", &self.denied.entries())
            .field("exempt", &self.exempt)
            .field("body_keys", &self.body_keys)
            .field("body_destinations", &self.body_destinations)
            .field("key_action", &self.key_action)
            .field("mask", &self.mask)
            .field("emails", &self.emails)
            .field("cards", &self.cards)
            .field("maskers", &self.maskers.len())
            .finish()
    }
}

impl Default for Redactor {
    fn default() -> Self {
        Self::new()
    }
}

impl Redactor {
    /// A redactor with the default policy (see the type's documentation).
    pub fn new() -> Self {
        let mut denied = DenyList::default();
        for entry in DEFAULT_DENIED
            .iter()
            .filter_map(|entry| DenyEntry::parse(entry))
        {
            denied.add(entry);
        }
        Self {
            denied,
            exempt: DEFAULT_EXEMPT.iter().map(|&key| key.into()).collect(),
            body_keys: Vec::new(),
            body_destinations: Vec::new(),
            key_action: KeyAction::Mask,
            mask: StringValue::from(DEFAULT_MASK),
            emails: true,
            cards: true,
            maskers: Vec::new(),
        }
    }

    /// Denies one more key: a word or words (`api-key`, `session_id`), matched inside key
    /// segments, or a whole key if it contains a dot (`enduser.id`). Entries without a
    /// letter or digit are ignored.
    pub fn with_denied_key(mut self, entry: impl AsRef<str>) -> Self {
        if let Some(entry) = DenyEntry::parse(entry.as_ref()) {
            self.denied.add(entry);
        }
        self
    }

    /// Removes an entry from the deny list (one of the defaults, or one added before),
    /// compared the way it was added: `Set_Cookie` removes `set-cookie`.
    pub fn without_denied_key(mut self, entry: impl AsRef<str>) -> Self {
        if let Some(entry) = DenyEntry::parse(entry.as_ref()) {
            self.denied.remove(&entry);
        }
        self
    }

    /// Removes every denied key, the defaults included.
    pub fn without_denied_keys(mut self) -> Self {
        self.denied.clear();
        self
    }

    /// Exempts a whole key (ASCII case ignored) from the deny list: for keys that hold no
    /// secret but contain a denied word, such as `auth.token_type`. Its string values are
    /// still scanned by the value patterns, and a message body key stays a body key.
    pub fn with_exempt_key(mut self, key: impl AsRef<str>) -> Self {
        let key = key.as_ref();
        if !self.exempt.iter().any(|k| k.eq_ignore_ascii_case(key)) {
            self.exempt.push(key.into());
        }
        self
    }

    /// What to do with the attribute of a denied key: mask it (the default) or drop it.
    pub fn with_key_action(mut self, action: KeyAction) -> Self {
        self.key_action = action;
        self
    }

    /// The text that replaces the value of a denied key (default [`DEFAULT_MASK`]).
    pub fn with_mask(mut self, mask: impl Into<Cow<'static, str>>) -> Self {
        self.mask = match mask.into() {
            Cow::Borrowed(text) => StringValue::from(text),
            // Shared, so that each masked attribute takes a reference, not a copy.
            Cow::Owned(text) => StringValue::from(Arc::<str>::from(text)),
        };
        self
    }

    /// Turns a built-in value pattern on (both are on by default).
    pub fn with_pattern(self, pattern: Pattern) -> Self {
        self.set_pattern(pattern, true)
    }

    /// Turns a built-in value pattern off.
    pub fn without_pattern(self, pattern: Pattern) -> Self {
        self.set_pattern(pattern, false)
    }

    fn set_pattern(mut self, pattern: Pattern, on: bool) -> Self {
        match pattern {
            Pattern::Email => self.emails = on,
            Pattern::PaymentCard => self.cards = on,
        }
        self
    }

    /// Adds a custom value masker, run on every string value (and string array element)
    /// after the built-in patterns. It returns the masked text, or `None` when the text
    /// holds nothing to mask (return `None` rather than an unchanged copy: it keeps clean
    /// spans free of allocations). It must not panic, and should be idempotent (masking
    /// its own output changes nothing) if spans may pass through two redactors.
    ///
    /// ```
    /// use baton_redact::Redactor;
    ///
    /// // Mask AWS access key ids (AKIA followed by 16 upper-case letters or digits).
    /// let redactor = Redactor::new().with_masker(|text: &str| {
    ///     let at = text.find("AKIA")?;
    ///     let id = text.get(at..at + 20)?;
    ///     id.bytes()
    ///         .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    ///         .then(|| text.replacen(id, "[AWS_KEY]", 1))
    /// });
    /// assert_eq!(
    ///     redactor.mask_text("key AKIAIOSFODNN7EXAMPLE used").as_deref(),
    ///     Some("key [AWS_KEY] used")
    /// );
    /// ```
    pub fn with_masker<F>(mut self, masker: F) -> Self
    where
        F: Fn(&str) -> Option<String> + Send + Sync + 'static,
    {
        self.maskers.push(Arc::new(masker));
        self
    }

    /// Adds a custom value pattern as a regular expression: every match inside string values
    /// is replaced by `replacement`, taken literally (`$1` is not expanded). Runs after the
    /// built-in patterns, in the order added among the custom maskers. Needs the `regex`
    /// feature.
    ///
    /// ```
    /// # #[cfg(feature = "regex")] {
    /// use baton_redact::Redactor;
    ///
    /// let ssn = regex::Regex::new(r"\b\d{3}-\d{2}-\d{4}\b").unwrap();
    /// let redactor = Redactor::new().with_regex(ssn, "[SSN]");
    /// assert_eq!(redactor.mask_text("ssn 078-05-1120").as_deref(), Some("ssn [SSN]"));
    /// # }
    /// ```
    #[cfg(feature = "regex")]
    pub fn with_regex(self, pattern: regex::Regex, replacement: impl Into<String>) -> Self {
        let replacement = replacement.into();
        self.with_masker(move |text: &str| {
            match pattern.replace_all(text, regex::NoExpand(&replacement)) {
                Cow::Borrowed(_) => None,
                Cow::Owned(masked) => Some(masked),
            }
        })
    }

    /// Allows message bodies on spans whose `messaging.destination.name` is one of
    /// `destinations` (compared exactly, case included, as queue and topic names are).
    /// Adds to the destinations allowed before.
    pub fn with_bodies_for<I, S>(mut self, destinations: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for destination in destinations {
            let destination = destination.as_ref();
            if !self.body_destinations.iter().any(|d| &**d == destination) {
                self.body_destinations.push(destination.into());
            }
        }
        self
    }

    /// Treats one more whole key (ASCII case ignored) as a message body, in addition to the
    /// `messaging.` rule.
    pub fn with_body_key(mut self, key: impl AsRef<str>) -> Self {
        let key = key.as_ref();
        if !self.body_keys.iter().any(|k| k.eq_ignore_ascii_case(key)) {
            self.body_keys.push(key.into());
        }
        self
    }

    /// Whether `key` is denied (and not exempt).
    pub fn is_denied_key(&self, key: &str) -> bool {
        self.denied.matches(key) && !self.exempt.iter().any(|k| k.eq_ignore_ascii_case(key))
    }

    /// Whether `key` carries a message body.
    pub fn is_body_key(&self, key: &str) -> bool {
        is_body_key(key) || self.body_keys.iter().any(|k| k.eq_ignore_ascii_case(key))
    }

    /// Whether message bodies may be recorded for `destination`.
    pub fn allows_bodies_for(&self, destination: &str) -> bool {
        self.body_destinations.iter().any(|d| &**d == destination)
    }

    /// Masks the value patterns (built-in, then custom) in `text`; `None`, without
    /// allocating, when nothing matched.
    pub fn mask_text(&self, text: &str) -> Option<String> {
        let mut masked: Option<String> = None;
        if self.emails {
            masked = mask_emails(text, EMAIL_MASK);
        }
        if self.cards
            && let Some(again) = mask_cards(masked.as_deref().unwrap_or(text), CARD_MASK)
        {
            masked = Some(again);
        }
        for masker in &self.maskers {
            if let Some(again) = masker(masked.as_deref().unwrap_or(text)) {
                masked = Some(again);
            }
        }
        masked
    }

    /// Redacts a span: its attributes, the value patterns in an error status's description,
    /// then the attributes of its events and links. Message bodies anywhere in it are kept
    /// only if the span's own `messaging.destination.name` is allowed. Nothing else is changed
    /// (ids, name, times, kind, scope and the dropped counts stay as they were).
    pub fn redact(&self, span: &mut SpanData) -> Summary {
        let bodies = self.bodies_allowed(&span.attributes);
        let mut summary = self.redact_list(&mut span.attributes, bodies);
        // An error's text often quotes the data that caused it, and exporters send it on
        // (X-Ray as the cause's message): the value patterns apply to it too.
        if let Status::Error { description } = &span.status
            && let Some(masked) = self.mask_text(description)
        {
            span.status = Status::error(masked);
            summary.masked_values += 1;
        }
        for event in &mut span.events.events {
            summary.add(self.redact_list(&mut event.attributes, bodies));
        }
        for link in &mut span.links.links {
            summary.add(self.redact_list(&mut link.attributes, bodies));
        }
        summary
    }

    /// Redacts a list of attributes on its own; message bodies in it are kept only if the
    /// list's own `messaging.destination.name` is allowed.
    pub fn redact_attributes(&self, attributes: &mut Vec<KeyValue>) -> Summary {
        let bodies = self.bodies_allowed(attributes);
        self.redact_list(attributes, bodies)
    }

    fn bodies_allowed(&self, attributes: &[KeyValue]) -> bool {
        !self.body_destinations.is_empty() && attributes.iter().any(|kv| {
            kv.key.as_str() == DESTINATION_KEY
                && matches!(&kv.value, Value::String(name) if self.allows_bodies_for(name.as_str()))
        })
    }

    fn redact_list(&self, attributes: &mut Vec<KeyValue>, bodies: bool) -> Summary {
        let mut summary = Summary::default();
        attributes.retain_mut(|kv| {
            let key = kv.key.as_str();
            if self.is_body_key(key) {
                if !bodies {
                    summary.dropped += 1;
                    return false;
                }
            } else if self.is_denied_key(key) {
                match self.key_action {
                    KeyAction::Drop => {
                        summary.dropped += 1;
                        return false;
                    }
                    KeyAction::Mask => {
                        // A value that is the mask already (a second pass) stays as it is.
                        if !matches!(&kv.value, Value::String(s) if *s == self.mask) {
                            kv.value = Value::String(self.mask.clone());
                            summary.masked_keys += 1;
                        }
                        return true;
                    }
                }
            }
            if self.mask_value(&mut kv.value) {
                summary.masked_values += 1;
            }
            true
        });
        summary
    }

    /// Masks the value patterns inside a string or string array; whether anything changed.
    fn mask_value(&self, value: &mut Value) -> bool {
        match value {
            Value::String(text) => match self.mask_text(text.as_str()) {
                Some(masked) => {
                    *text = StringValue::from(masked);
                    true
                }
                None => false,
            },
            Value::Array(Array::String(items)) => {
                let mut changed = false;
                for item in items {
                    if let Some(masked) = self.mask_text(item.as_str()) {
                        *item = StringValue::from(masked);
                        changed = true;
                    }
                }
                changed
            }
            _ => false,
        }
    }
}
