//! The compiled glob matcher against a plain recursive definition of X-Ray's patterns, on
//! generated patterns and texts (ASCII of both cases, the letters' 0x20 neighbours, and
//! multi-byte characters).

use baton_sampling::Glob;
use proptest::prelude::*;

/// The definition: `*` is any run of characters, `?` one character, anything else itself,
/// ASCII letters in either case.
fn reference(pattern: &[char], text: &[char]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some(('*', rest)) => (0..=text.len()).any(|skip| reference(rest, &text[skip..])),
        Some(('?', rest)) => !text.is_empty() && reference(rest, &text[1..]),
        Some((c, rest)) => text
            .split_first()
            .is_some_and(|(t, more)| c.eq_ignore_ascii_case(t) && reference(rest, more)),
    }
}

fn alphabet() -> impl Strategy<Value = char> {
    prop::sample::select(vec![
        'a', 'B', 'b', 'A', '@', '`', '[', '{', '/', '.', 'é', 'É', '日',
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn glob_agrees_with_the_definition(
        pattern in prop::collection::vec(
            prop_oneof![3 => alphabet(), 1 => Just('*'), 1 => Just('?')], 0..12),
        text in prop::collection::vec(alphabet(), 0..24),
    ) {
        let p: String = pattern.iter().collect();
        let t: String = text.iter().collect();
        prop_assert_eq!(Glob::new(&p).matches(&t), reference(&pattern, &text), "{:?} {:?}", p, t);
    }

    #[test]
    fn glob_never_panics(pattern in ".{0,40}", text in ".{0,80}") {
        let _ = Glob::new(&pattern).matches(&text);
    }
}
