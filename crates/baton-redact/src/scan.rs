//! Hand-written scanners for the built-in value patterns: e-mail addresses and payment card
//! numbers. Each returns `None`, without allocating, when the text holds nothing to mask.

/// The shortest and longest payment card numbers (ISO/IEC 7812).
const CARD_DIGITS: std::ops::RangeInclusive<usize> = 13..=19;

/// Replaces every e-mail address in `text` with `mask`.
///
/// An address is `local@domain`: the local part a run of ASCII letters, digits and
/// `. _ % + -` (leading dots ignored); the domain at least two dot-separated labels of
/// ASCII letters, digits and `-`, the last one (the top-level domain) of two or more
/// letters. Trailing dots and hyphens are not part of the domain (`mail jane@example.com.`).
pub(crate) fn mask_emails(text: &str, mask: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut search = 0;
    // `search` is always just after an ASCII byte (or 0), so slicing there is safe.
    while let Some(offset) = text.get(search..).and_then(|rest| rest.find('@')) {
        let at = search + offset;
        search = at + 1;
        let mut start = at;
        while start > copied && is_local(bytes[start - 1]) {
            start -= 1;
        }
        while start < at && bytes[start] == b'.' {
            start += 1;
        }
        if start == at {
            continue;
        }
        let Some(end) = domain_end(bytes, at + 1) else {
            continue;
        };
        let masked = out.get_or_insert_with(|| String::with_capacity(text.len()));
        masked.push_str(&text[copied..start]);
        masked.push_str(mask);
        copied = end;
        search = end;
    }
    out.map(|mut masked| {
        masked.push_str(&text[copied..]);
        masked
    })
}

fn is_local(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'%' | b'+' | b'-')
}

/// Where a domain that begins at `start` ends, if one does.
fn domain_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut end = start;
    while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'-') {
        end += 1;
        // A dot continues the domain only when a label follows it.
        if end + 1 < bytes.len()
            && bytes[end] == b'.'
            && (bytes[end + 1].is_ascii_alphanumeric() || bytes[end + 1] == b'-')
        {
            end += 1;
        }
    }
    // Drop trailing hyphens, then labels from the right until the last one is a valid
    // top-level domain; at least two labels must remain.
    let mut domain = &bytes[start..end];
    loop {
        while let [rest @ .., b'-'] = domain {
            domain = rest;
        }
        let dot = domain.iter().rposition(|&b| b == b'.')?;
        let tld = &domain[dot + 1..];
        if tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic) && dot > 0 {
            return Some(start + domain.len());
        }
        domain = &domain[..dot];
    }
}

/// Replaces every payment card number in `text` with `mask`.
///
/// A card number is 13 to 19 digits, either in one piece or in groups separated by single
/// spaces or single dashes (one kind of separator per number), starting with 2 to 6 (the
/// card networks' major industry identifiers) and passing the Luhn check. Digit runs
/// that touch a letter, a digit, `_`, or a decimal point or comma between digits are part
/// of something else (an identifier, a decimal number) and left alone, as are digit groups
/// longer than 19.
pub(crate) fn mask_cards(text: &str, mask: &str) -> Option<String> {
    let bytes = text.as_bytes();
    // Most values hold fewer digits than the shortest card: one quick count settles them.
    if count_digits(bytes) < *CARD_DIGITS.start() {
        return None;
    }
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let run_start = i;
        let run_end = run_end(bytes, run_start);
        i = run_end;
        if !free_before(bytes, run_start) || !free_after(bytes, run_end) {
            continue;
        }
        let mut group = run_start;
        while group < run_end {
            match card_at(&bytes[group..run_end]) {
                Some(len) => {
                    let masked = out.get_or_insert_with(|| String::with_capacity(text.len()));
                    masked.push_str(&text[copied..group]);
                    masked.push_str(mask);
                    copied = group + len;
                    group = next_group(bytes, copied, run_end);
                }
                None => group = next_group(bytes, group, run_end),
            }
        }
    }
    out.map(|mut masked| {
        masked.push_str(&text[copied..]);
        masked
    })
}

/// How many ASCII digits `bytes` holds. Counted in byte-wide sums over chunks short enough
/// not to overflow, a shape the compiler turns into vector instructions.
fn count_digits(bytes: &[u8]) -> usize {
    bytes
        .chunks(255)
        .map(|chunk| {
            let in_chunk = chunk
                .iter()
                .fold(0u8, |sum, &b| sum + u8::from(b.wrapping_sub(b'0') < 10));
            usize::from(in_chunk)
        })
        .sum()
}

/// The end of the run of digit groups (joined by single spaces or dashes) at `start`.
fn run_end(bytes: &[u8], start: usize) -> usize {
    let mut end = start;
    loop {
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
        }
        if end + 1 < bytes.len()
            && matches!(bytes[end], b' ' | b'-')
            && bytes[end + 1].is_ascii_digit()
        {
            end += 1;
        } else {
            return end;
        }
    }
}

/// The start of the digit group after the one that contains (or ends just before) `from`.
fn next_group(bytes: &[u8], from: usize, run_end: usize) -> usize {
    let mut at = from;
    while at < run_end && bytes[at].is_ascii_digit() {
        at += 1;
    }
    (at + 1).min(run_end)
}

fn is_word(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

fn free_before(bytes: &[u8], start: usize) -> bool {
    match start.checked_sub(1).map(|i| bytes[i]) {
        None => true,
        Some(b'.' | b',') => !(start >= 2 && bytes[start - 2].is_ascii_digit()),
        Some(byte) => !is_word(byte),
    }
}

fn free_after(bytes: &[u8], end: usize) -> bool {
    match bytes.get(end) {
        None => true,
        Some(b'.' | b',') => !bytes.get(end + 1).is_some_and(u8::is_ascii_digit),
        Some(&byte) => !is_word(byte),
    }
}

/// The length in bytes of the longest card number at the start of `run` (which starts
/// with a digit group), if there is one.
fn card_at(run: &[u8]) -> Option<usize> {
    if !matches!(run[0], b'2'..=b'6') {
        return None;
    }
    let mut best = None;
    let mut digits = 0;
    let mut separator = None;
    let mut at = 0;
    loop {
        let group_end = at + run[at..].iter().take_while(|b| b.is_ascii_digit()).count();
        digits += group_end - at;
        if digits > *CARD_DIGITS.end() {
            break;
        }
        if CARD_DIGITS.contains(&digits) && luhn(&run[..group_end]) {
            best = Some(group_end);
        }
        let Some(&next) = run.get(group_end) else {
            break;
        };
        if separator.is_some_and(|s| s != next) {
            break;
        }
        separator = Some(next);
        at = group_end + 1;
    }
    best
}

/// The Luhn check over the digits of `number` (other bytes skipped).
fn luhn(number: &[u8]) -> bool {
    let mut sum = 0u32;
    let mut double = false;
    for &byte in number.iter().rev().filter(|b| b.is_ascii_digit()) {
        let mut digit = u32::from(byte - b'0');
        if double {
            digit *= 2;
            if digit > 9 {
                digit -= 9;
            }
        }
        sum += digit;
        double = !double;
    }
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_known_numbers() {
        assert!(luhn(b"4111111111111111"));
        assert!(luhn(b"3782-822463-10005"));
        assert!(!luhn(b"4111111111111112"));
    }

    #[test]
    fn digits_are_counted() {
        assert_eq!(count_digits(b""), 0);
        assert_eq!(count_digits(b"a1b2/:0"), 3);
        assert_eq!(count_digits("9".repeat(1000).as_bytes()), 1000);
    }

    #[test]
    fn domains() {
        assert_eq!(domain_end(b"example.com", 0), Some(11));
        assert_eq!(domain_end(b"example.com.", 0), Some(11));
        assert_eq!(domain_end(b"example.com-", 0), Some(11));
        assert_eq!(domain_end(b"b", 0), None);
        assert_eq!(domain_end(b".com", 0), None);
        assert_eq!(domain_end(b"10.0.0.1", 0), None);
        assert_eq!(domain_end(b"a.b.c2", 0), None);
    }
}
