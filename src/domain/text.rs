//! Text that one person chooses and others see — a client's name on the consent page, a user's
//! display name, a passkey's label, a note in the console. Such text must show what it holds:
//! a right-to-left override turns `Evil\u{202e}elgooG` into what reads as "EvilGoogle", a
//! zero-width space makes two names that look alike compare unequal, a line separator breaks a
//! page's layout. [`visible_name`] is the one rule every validator of such text calls.

/// Why a name was refused, in words for a form or an RFC 7591 error description.
pub const INVISIBLE: &str = "must not contain control, formatting (bidirectional, zero-width) or \
                             line-separator characters";

/// `raw` trimmed, or a refusal when it holds a character that is not shown as itself: a control
/// (Cc), a format character (Cf: bidi embeddings, overrides, isolates and marks, zero-width
/// characters, the word joiner, the byte-order mark, the soft hyphen, tag characters…), a line
/// or paragraph separator (Zl, Zp), or another default-ignorable character a browser draws as
/// nothing (Hangul fillers, the combining grapheme joiner, Mongolian variation selectors).
/// Emoji variation selectors (U+FE00–U+FE0F, U+E0100–U+E01EF) stay: they only choose how the
/// character before them is drawn. Length limits are each field's own.
pub fn visible_name(raw: &str) -> Result<String, &'static str> {
    let trimmed = raw.trim();
    if trimmed.chars().any(is_invisible) {
        return Err(INVISIBLE);
    }
    Ok(trimmed.to_owned())
}

/// Free text that is kept rather than refused (a note an administrator writes beside an
/// invitation or an initial access token, for the console's lists): `raw` trimmed, without the
/// characters [`visible_name`] refuses.
pub fn without_invisible(raw: &str) -> String {
    raw.trim()
        .chars()
        .filter(|c| !is_invisible(*c))
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Whether `c` is one of the characters [`visible_name`] refuses.
pub fn is_invisible(c: char) -> bool {
    c.is_control() || in_ranges(c, FORMAT) || in_ranges(c, SEPARATORS) || in_ranges(c, IGNORABLE)
}

fn in_ranges(c: char, ranges: &[(u32, u32)]) -> bool {
    let c = c as u32;
    ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// General category Cf, from the Unicode Character Database 15.1
/// (`extracted/DerivedGeneralCategory.txt`; the list up to Unicode 14 checked against Python's
/// `unicodedata`, U+13439–U+1343F added by Unicode 15).
const FORMAT: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),   // soft hyphen
    (0x0600, 0x0605),   // Arabic number signs
    (0x061C, 0x061C),   // Arabic letter mark
    (0x06DD, 0x06DD),   // Arabic end of ayah
    (0x070F, 0x070F),   // Syriac abbreviation mark
    (0x0890, 0x0891),   // Arabic pound/piastre mark above
    (0x08E2, 0x08E2),   // Arabic disputed end of ayah
    (0x180E, 0x180E),   // Mongolian vowel separator
    (0x200B, 0x200F),   // zero-width space, ZWNJ, ZWJ, LRM, RLM
    (0x202A, 0x202E),   // bidi embeddings and overrides
    (0x2060, 0x2064),   // word joiner, invisible operators
    (0x2066, 0x206F),   // bidi isolates, deprecated format characters
    (0xFEFF, 0xFEFF),   // zero-width no-break space (byte-order mark)
    (0xFFF9, 0xFFFB),   // interlinear annotation
    (0x110BD, 0x110BD), // Kaithi number sign
    (0x110CD, 0x110CD), // Kaithi number sign above
    (0x13430, 0x1343F), // Egyptian hieroglyph format controls
    (0x1BCA0, 0x1BCA3), // shorthand format controls
    (0x1D173, 0x1D17A), // musical symbol format controls
    (0xE0001, 0xE0001), // language tag
    (0xE0020, 0xE007F), // tag characters
];

/// General categories Zl and Zp.
const SEPARATORS: &[(u32, u32)] = &[(0x2028, 0x2029)];

/// Default_Ignorable_Code_Point characters that are not Cf but are drawn as nothing
/// (`DerivedCoreProperties.txt`), and the unassigned code points reserved as default-ignorable
/// (a future format character is refused today). Variation selectors are left out on purpose
/// (see [`visible_name`]).
const IGNORABLE: &[(u32, u32)] = &[
    (0x034F, 0x034F),   // combining grapheme joiner
    (0x115F, 0x1160),   // Hangul choseong/jungseong fillers
    (0x17B4, 0x17B5),   // Khmer inherent vowels
    (0x180B, 0x180D),   // Mongolian free variation selectors
    (0x180F, 0x180F),   // Mongolian free variation selector four
    (0x2065, 0x2065),   // reserved
    (0x3164, 0x3164),   // Hangul filler
    (0xFFA0, 0xFFA0),   // halfwidth Hangul filler
    (0xFFF0, 0xFFF8),   // reserved
    (0xE0000, 0xE0000), // reserved
    (0xE0002, 0xE001F), // reserved
    (0xE0080, 0xE00FF), // reserved
    (0xE01F0, 0xE0FFF), // reserved
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_invisible_characters_are_refused() {
        let refused = [
            ("right-to-left override", "Evil\u{202e}elgooG"),
            ("left-to-right embedding", "a\u{202a}b"),
            ("pop directional formatting", "a\u{202c}b"),
            ("left-to-right isolate", "a\u{2066}b"),
            ("right-to-left isolate", "a\u{2067}b"),
            ("first strong isolate", "a\u{2068}b"),
            ("pop directional isolate", "a\u{2069}b"),
            ("left-to-right mark", "a\u{200e}b"),
            ("right-to-left mark", "a\u{200f}b"),
            ("Arabic letter mark", "a\u{61c}b"),
            ("zero-width space", "Goo\u{200b}gle"),
            ("zero-width non-joiner", "a\u{200c}b"),
            ("zero-width joiner", "a\u{200d}b"),
            ("word joiner", "a\u{2060}b"),
            ("byte-order mark", "\u{feff}App"),
            ("soft hyphen", "Pay\u{ad}Pal"),
            ("tag character", "a\u{e0041}b"),
            ("line separator", "a\u{2028}b"),
            ("paragraph separator", "a\u{2029}b"),
            ("newline", "a\nb"),
            ("NUL", "a\0b"),
            ("DEL", "a\u{7f}b"),
            ("C1 control", "a\u{85}b"),
            ("Hangul filler", "\u{3164}"),
            ("combining grapheme joiner", "a\u{34f}b"),
            ("Egyptian format control (Unicode 15)", "a\u{1343a}b"),
        ];
        for (what, name) in refused {
            assert_eq!(visible_name(name), Err(INVISIBLE), "{what} was accepted");
        }
    }

    #[test]
    fn ordinary_names_pass_trimmed() {
        let kept = [
            ("  Example App ", "Example App"),
            ("Café Müller", "Café Müller"),
            ("日本語のアプリ", "日本語のアプリ"),
            ("تطبيق", "تطبيق"),
            ("I \u{2764}\u{fe0f} cats", "I \u{2764}\u{fe0f} cats"),
            ("a\u{a0}b", "a\u{a0}b"),
            ("", ""),
        ];
        for (raw, want) in kept {
            assert_eq!(visible_name(raw).as_deref(), Ok(want), "{raw:?}");
        }
    }

    #[test]
    fn notes_lose_their_invisible_characters() {
        assert_eq!(without_invisible(" for \u{202e}Bob\u{2028} "), "for Bob");
        assert_eq!(without_invisible("\u{200b}"), "");
    }
}
