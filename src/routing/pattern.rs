//! Dial-peer number patterns: `destination-pattern`, `incoming called-number` and
//! `answer-address` (`reference/dial-peers.md` §2).
//!
//! A pattern is parsed once, at load, into a small tree of items and matched by a
//! dynamic programme over input positions, which is exact for every construct
//! (groups, `%`, `+`, `?`, `T`) and never backtracks exponentially:
//!
//! ```text
//!   "91[2-9]..$"  ──parse──▶  Lit(9) Lit(1) Class{2-9} Class{any} Class{any}  + end anchor
//!   number "91234" ──match──▶ best explicit-digit count over every way to match a prefix
//! ```
//!
//! The explicit-digit count (§2 rule 4) is the number of input characters matched by
//! literal pattern characters; a literal inside a repeated group counts once per
//! repetition (clone rule). When several ways to match exist, the one with the most
//! explicit digits is reported, and among those the longest.

use std::fmt;

/// Characters a dialled number may hold, in index order: `0`-`9`, `A`-`D`, `*`, `#`, `+`.
pub(crate) const ALPHABET: &[u8; 17] = b"0123456789ABCD*#+";
/// Bit set of every dial character but `+`: what `.` and `T` accept.
pub(crate) const ANY_DIGIT: u32 = 0xFFFF;
/// Index of `+` in [`ALPHABET`].
const PLUS: u8 = 16;
/// The longest run `T` accepts (§2: "any number (0-32) of further digits").
pub const T_MAX_DIGITS: u32 = 32;
/// Longest number accepted anywhere; Q.931 and SIP numbers are far shorter.
pub const MAX_NUMBER_LEN: usize = 64;

/// Index of a dial character in [`ALPHABET`], accepting lowercase `a`-`d`.
pub(crate) fn dial_index(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'D' => Some(c - b'A' + 10),
        b'a'..=b'd' => Some(c - b'a' + 10),
        b'*' => Some(14),
        b'#' => Some(15),
        b'+' => Some(PLUS),
        _ => None,
    }
}

/// A dialled number checked against the dial alphabet and stored as alphabet indices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digits {
    text: String,
    index: Vec<u8>,
}

/// Why a string is not a dialled number.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    /// A character outside `0-9 A-D * #` and a leading `+`.
    #[error("character {0:?} is not a dial digit (allowed: 0-9, A-D, *, #, and + first)")]
    Character(char),
    /// `+` anywhere but first.
    #[error("`+` is allowed only as the first character")]
    PlusNotFirst,
    /// Longer than [`MAX_NUMBER_LEN`].
    #[error("number longer than {MAX_NUMBER_LEN} digits")]
    TooLong,
}

impl Digits {
    /// Check a number: dial characters only, `+` only first, at most 64 long.
    pub fn parse(text: &str) -> Result<Self, NumberError> {
        if text.len() > MAX_NUMBER_LEN {
            return Err(NumberError::TooLong);
        }
        let mut index = Vec::with_capacity(text.len());
        for (i, c) in text.chars().enumerate() {
            let idx = u8::try_from(c)
                .ok()
                .and_then(dial_index)
                .ok_or(NumberError::Character(c))?;
            if idx == PLUS && i != 0 {
                return Err(NumberError::PlusNotFirst);
            }
            index.push(idx);
        }
        let text = index
            .iter()
            .map(|&i| ALPHABET[usize::from(i)] as char)
            .collect();
        Ok(Self { text, index })
    }

    /// The number as text (lowercase `a`-`d` normalised to uppercase).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The alphabet indices, one per character.
    pub(crate) fn indices(&self) -> &[u8] {
        &self.index
    }

    /// Number of characters.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True for the empty number.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
}

impl fmt::Display for Digits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// One parsed element of a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Item {
    /// A literal dial character (an explicit digit).
    Literal(u8),
    /// One character from a set (`.`, `[..]`): a wildcard.
    Class(u32),
    /// `( .. )`.
    Group(Vec<Item>),
    /// The item `min..=max` times (`%` = 0.., `+` = 1.., `?` = 0..=1, `T` = 0..=32).
    Repeat {
        item: Box<Item>,
        min: u32,
        max: Option<u32>,
    },
}

/// How a pattern was malformed, with the offending character position (0-based).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// The pattern is empty.
    #[error("empty pattern (allowed: 0-9 A-D * # . [ ] ( ) % + ? T $, e.g. \"2...\" or \"9T\")")]
    Empty,
    /// A character outside the pattern alphabet.
    #[error(
        "character {character:?} at position {at} is not allowed \
         (allowed: 0-9 A-D * # . [ ] ( ) % + ? ^ $ \\ , and a final T)"
    )]
    Character { character: char, at: usize },
    /// `%`, `+` or `?` with nothing to repeat.
    #[error("quantifier {quantifier:?} at position {at} has no digit or group before it")]
    NothingToRepeat { quantifier: char, at: usize },
    /// Unbalanced `(`, `)`, `[` or `]`.
    #[error("unbalanced {bracket:?} at position {at}")]
    Unbalanced { bracket: char, at: usize },
    /// `()` or `[]`.
    #[error("empty group or set at position {at}")]
    EmptyGroup { at: usize },
    /// A range inside `[ ]` that is not digit-to-digit ascending.
    #[error("range at position {at} must be ascending digits 0-9, e.g. [2-9]")]
    Range { at: usize },
    /// `T` anywhere but last (or just before a final `$`).
    #[error("`T` at position {at} must be the last character (or before a final `$`)")]
    TNotLast { at: usize },
    /// `$` anywhere but last.
    #[error("`$` at position {at} must be the last character")]
    DollarNotLast { at: usize },
    /// A backslash with nothing or a non-dial character after it.
    #[error("`\\` at position {at} must be followed by a dial character")]
    Escape { at: usize },
    /// A set that no dial character satisfies, e.g. `[^0-9ABCD*#]`.
    #[error("set at position {at} matches no dial character")]
    EmptySet { at: usize },
}

/// A compiled dial-peer pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    source: String,
    items: Vec<Item>,
    end_anchor: bool,
    trailing_t: bool,
}

/// A successful match of a [`Pattern`] against a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PatternMatch {
    /// Explicit-digit count (§2 rule 4).
    pub explicit: u32,
    /// How many leading characters of the number the pattern consumed; the rest are
    /// "extra" digits.
    pub matched_len: usize,
}

impl Pattern {
    /// Parse and validate a pattern (§2 rule 5).
    pub fn parse(source: &str) -> Result<Self, PatternError> {
        let bytes = source.as_bytes();
        if bytes.is_empty() {
            return Err(PatternError::Empty);
        }
        let mut parser = Parser { bytes, pos: 0 };
        if parser.peek() == Some(b'^') {
            parser.pos += 1;
        }
        let (items, end_anchor, trailing_t) = parser.sequence(0)?;
        if items.is_empty() && !trailing_t {
            return Err(PatternError::Empty);
        }
        let mut items = items;
        if trailing_t {
            items.push(Item::Repeat {
                item: Box::new(Item::Class(ANY_DIGIT)),
                min: 0,
                max: Some(T_MAX_DIGITS),
            });
        }
        Ok(Self {
            source: source.to_owned(),
            items,
            end_anchor,
            trailing_t,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// True when the pattern ends in `T` (variable length).
    pub fn ends_with_t(&self) -> bool {
        self.trailing_t
    }

    /// True when the pattern ends in `$` (the number must end there).
    pub fn is_end_anchored(&self) -> bool {
        self.end_anchor
    }

    /// The left-justified literal digits before the first wildcard: what automatic
    /// digit-strip removes (§5.1).
    pub fn literal_prefix(&self) -> String {
        self.items
            .iter()
            .map_while(|item| match item {
                Item::Literal(c) => Some(ALPHABET[usize::from(*c)] as char),
                _ => None,
            })
            .collect()
    }

    /// Shortest number length the pattern can match.
    pub fn min_len(&self) -> u32 {
        self.items
            .iter()
            .map(item_min_len)
            .fold(0, u32::saturating_add)
    }

    /// Match against a number (anchored at the start; a pattern without `$` also
    /// matches longer numbers).
    pub fn matches(&self, number: &Digits) -> Option<PatternMatch> {
        let input = number.indices();
        let mut start = vec![None; input.len() + 1];
        start[0] = Some(0u32);
        let reach = run_sequence(&self.items, input, start);
        let best = if self.end_anchor {
            reach[input.len()].map(|c| (c, input.len()))
        } else {
            reach
                .iter()
                .enumerate()
                .filter_map(|(end, c)| c.map(|c| (c, end)))
                .max()
        };
        best.map(|(explicit, matched_len)| PatternMatch {
            explicit,
            matched_len,
        })
    }

    /// The pattern as a flat list of one-character steps, if it has no groups or
    /// quantifiers other than the final `T`: such patterns go in the lookup trie.
    pub(crate) fn simple_steps(&self) -> Option<Vec<Step>> {
        let body = if self.trailing_t {
            &self.items[..self.items.len().saturating_sub(1)]
        } else {
            &self.items[..]
        };
        body.iter()
            .map(|item| match item {
                Item::Literal(c) => Some(Step {
                    mask: 1 << c,
                    explicit: true,
                }),
                Item::Class(mask) => Some(Step {
                    mask: *mask,
                    explicit: false,
                }),
                _ => None,
            })
            .collect()
    }

    /// The pattern's one-character items, without the final `T`, if it has no groups
    /// or quantifiers other than that `T`: such patterns are spelled out in the
    /// lookup trie.
    pub(crate) fn simple_body(&self) -> Option<&[Item]> {
        let body = if self.trailing_t {
            &self.items[..self.items.len().saturating_sub(1)]
        } else {
            &self.items[..]
        };
        body.iter()
            .all(|item| matches!(item, Item::Literal(_) | Item::Class(_)))
            .then_some(body)
    }

    /// [`Pattern::literal_prefix`] as alphabet indices, without allocating.
    pub(crate) fn literal_prefix_indices(&self) -> impl Iterator<Item = u8> + '_ {
        self.items.iter().map_while(|item| match item {
            Item::Literal(c) => Some(*c),
            _ => None,
        })
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// One character position of a simple pattern: the set it accepts, and whether that is
/// a literal (explicit) digit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Step {
    pub(crate) mask: u32,
    pub(crate) explicit: bool,
}

fn item_min_len(item: &Item) -> u32 {
    match item {
        Item::Literal(_) | Item::Class(_) => 1,
        Item::Group(items) => items.iter().map(item_min_len).fold(0, u32::saturating_add),
        Item::Repeat { item, min, .. } => item_min_len(item).saturating_mul(*min),
    }
}

/// Reachable positions with their best explicit count, one slot per input position.
type Reach = Vec<Option<u32>>;

fn run_sequence(items: &[Item], input: &[u8], mut reach: Reach) -> Reach {
    for item in items {
        if reach.iter().all(Option::is_none) {
            break;
        }
        reach = run_item(item, input, &reach);
    }
    reach
}

fn run_item(item: &Item, input: &[u8], from: &Reach) -> Reach {
    let mut to = vec![None; from.len()];
    match item {
        Item::Literal(c) => {
            for (p, count) in from.iter().enumerate() {
                if let (Some(count), Some(&d)) = (count, input.get(p))
                    && d == *c
                {
                    merge(&mut to[p + 1], count + 1);
                }
            }
        }
        Item::Class(mask) => {
            for (p, count) in from.iter().enumerate() {
                if let (Some(count), Some(&d)) = (count, input.get(p))
                    && mask & (1 << d) != 0
                {
                    merge(&mut to[p + 1], *count);
                }
            }
        }
        Item::Group(items) => to = run_sequence(items, input, from.clone()),
        Item::Repeat { item, min, max } => {
            // Iterate repetitions; once a round adds nothing to what is already
            // reachable, later rounds cannot either (the step is monotone).
            let mut current = from.clone();
            if *min == 0 {
                to.clone_from(from);
            }
            let mut round = 0u32;
            loop {
                if max.is_some_and(|m| round >= m) {
                    break;
                }
                round += 1;
                current = run_item(item, input, &current);
                if current.iter().all(Option::is_none) {
                    break;
                }
                if round >= *min {
                    let mut grew = false;
                    for (slot, value) in to.iter_mut().zip(&current) {
                        if let Some(v) = value
                            && slot.is_none_or(|s| *v > s)
                        {
                            *slot = Some(*v);
                            grew = true;
                        }
                    }
                    if !grew && max.is_none() {
                        break;
                    }
                }
                if round > u32::try_from(input.len()).unwrap_or(u32::MAX) + *min + 1 {
                    // An item that can match empty input repeats without progress.
                    break;
                }
            }
        }
    }
    to
}

fn merge(slot: &mut Option<u32>, value: u32) {
    if slot.is_none_or(|s| value > s) {
        *slot = Some(value);
    }
}

struct Parser<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Parse items until end of input (depth 0) or `)` (inside a group). Returns the
    /// items, whether a final `$` was seen and whether a final `T` was seen.
    fn sequence(&mut self, depth: usize) -> Result<(Vec<Item>, bool, bool), PatternError> {
        // At most one item per character, plus the item a final `T` becomes: one
        // allocation per pattern at load rather than one per doubling.
        let mut items: Vec<Item> = Vec::with_capacity(self.bytes.len() - self.pos + 1);
        let mut end_anchor = false;
        let mut trailing_t = false;
        let group_start = self.pos;
        while let Some(c) = self.peek() {
            let at = self.pos;
            if end_anchor {
                return Err(PatternError::DollarNotLast { at: at - 1 });
            }
            if trailing_t && c != b'$' {
                return Err(PatternError::TNotLast { at: at - 1 });
            }
            self.pos += 1;
            match c {
                b'+' if at == 0 || (at == 1 && self.bytes[0] == b'^') => {
                    items.push(Item::Literal(PLUS));
                }
                b'%' | b'+' | b'?' => {
                    let Some(last) = items.pop() else {
                        return Err(PatternError::NothingToRepeat {
                            quantifier: c as char,
                            at,
                        });
                    };
                    if matches!(last, Item::Repeat { .. }) {
                        return Err(PatternError::NothingToRepeat {
                            quantifier: c as char,
                            at,
                        });
                    }
                    let (min, max) = match c {
                        b'%' => (0, None),
                        b'+' => (1, None),
                        _ => (0, Some(1)),
                    };
                    items.push(Item::Repeat {
                        item: Box::new(last),
                        min,
                        max,
                    });
                }
                b'.' => items.push(Item::Class(ANY_DIGIT)),
                b',' => {}
                b'[' => items.push(Item::Class(self.class(at)?)),
                b']' => return Err(PatternError::Unbalanced { bracket: ']', at }),
                b'(' => {
                    let (inner, dollar, t) = self.sequence(depth + 1)?;
                    if dollar {
                        return Err(PatternError::DollarNotLast { at: self.pos - 1 });
                    }
                    if t {
                        return Err(PatternError::TNotLast { at: self.pos - 1 });
                    }
                    if self.bytes.get(self.pos.wrapping_sub(1)) != Some(&b')') {
                        return Err(PatternError::Unbalanced { bracket: '(', at });
                    }
                    if inner.is_empty() {
                        return Err(PatternError::EmptyGroup { at });
                    }
                    items.push(Item::Group(inner));
                }
                b')' => {
                    if depth == 0 {
                        return Err(PatternError::Unbalanced { bracket: ')', at });
                    }
                    return Ok((items, end_anchor, trailing_t));
                }
                b'$' if depth == 0 => end_anchor = true,
                b'$' => return Err(PatternError::DollarNotLast { at }),
                b'T' | b't' if depth == 0 => trailing_t = true,
                b'T' | b't' => return Err(PatternError::TNotLast { at }),
                b'\\' => {
                    let Some(idx) = self.peek().and_then(dial_index) else {
                        return Err(PatternError::Escape { at });
                    };
                    self.pos += 1;
                    items.push(Item::Literal(idx));
                }
                _ => match dial_index(c) {
                    Some(idx) if idx != PLUS && !c.is_ascii_lowercase() => {
                        items.push(Item::Literal(idx));
                    }
                    _ => {
                        let character = self.bytes[at..]
                            .utf8_chunks()
                            .next()
                            .and_then(|ch| ch.valid().chars().next())
                            .unwrap_or(char::REPLACEMENT_CHARACTER);
                        return Err(PatternError::Character { character, at });
                    }
                },
            }
        }
        if depth > 0 {
            return Err(PatternError::Unbalanced {
                bracket: '(',
                at: group_start - 1,
            });
        }
        Ok((items, end_anchor, trailing_t))
    }

    /// Parse a `[..]` set; `open` is the position of `[`.
    fn class(&mut self, open: usize) -> Result<u32, PatternError> {
        let negate = self.peek() == Some(b'^');
        if negate {
            self.pos += 1;
        }
        let mut mask = 0u32;
        let mut any = false;
        loop {
            let at = self.pos;
            let Some(c) = self.peek() else {
                return Err(PatternError::Unbalanced {
                    bracket: '[',
                    at: open,
                });
            };
            self.pos += 1;
            match c {
                b']' => break,
                b',' => continue,
                b'-' => return Err(PatternError::Range { at }),
                _ => {}
            }
            let Some(idx) = dial_index(c).filter(|&i| i != PLUS && !c.is_ascii_lowercase()) else {
                return Err(PatternError::Character {
                    character: c as char,
                    at,
                });
            };
            any = true;
            if self.peek() == Some(b'-') {
                self.pos += 1;
                let hi = self.peek().and_then(dial_index);
                self.pos += 1;
                match hi {
                    Some(hi) if idx <= 9 && hi <= 9 && idx <= hi => {
                        for d in idx..=hi {
                            mask |= 1 << d;
                        }
                    }
                    _ => return Err(PatternError::Range { at }),
                }
            } else {
                mask |= 1 << idx;
            }
        }
        if !any {
            return Err(PatternError::EmptyGroup { at: open });
        }
        if negate {
            mask = !mask & ANY_DIGIT;
        }
        if mask == 0 {
            return Err(PatternError::EmptySet { at: open });
        }
        Ok(mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, number: &str) -> Option<(u32, usize)> {
        let p = Pattern::parse(pattern).unwrap();
        p.matches(&Digits::parse(number).unwrap())
            .map(|m| (m.explicit, m.matched_len))
    }

    #[test]
    fn pattern_matches_table() {
        // (pattern, number, Some((explicit, matched_len)) or None)
        type Row = (&'static str, &'static str, Option<(u32, usize)>);
        let table: &[Row] = &[
            ("2...", "2001", Some((1, 4))),
            ("200.", "2001", Some((3, 4))),
            ("20[0-4].", "2001", Some((2, 4))),
            ("20[0-4].", "2055", None),
            ("816", "81690", Some((3, 3))),
            ("81690", "81690", Some((5, 5))),
            ("816..", "81690", Some((3, 5))),
            ("81690T", "81690", Some((5, 5))),
            ("8T", "81690", Some((1, 5))),
            ("8675309$", "86753091", None),
            ("8675309$", "8675309", Some((7, 7))),
            ("5[^0]..$", "5123", Some((1, 4))),
            ("5[^0]..$", "5023", None),
            ("5...$", "51234", None),
            ("9T", "9", Some((1, 1))),
            ("T", "", Some((0, 0))),
            (".T", "", None),
            ("+1T", "+14085551234", Some((2, 12))),
            ("1%", "111", Some((3, 3))),
            ("1%2", "2", Some((1, 1))),
            ("1+2", "2", None),
            ("12?3", "13", Some((2, 2))),
            ("12?3", "123", Some((3, 3))),
            ("(12)+$", "121212", Some((6, 6))),
            ("(12)+$", "12121", None),
            ("[2,5-8]", "6", Some((0, 1))),
            ("[2,5-8]", "4", None),
            ("*67T", "*674085551234", Some((3, 13))),
            ("#", "#", Some((1, 1))),
            ("^555", "5551", Some((3, 3))),
            ("5,5,5", "555", Some((3, 3))),
            ("\\+1", "+1", Some((2, 2))),
            ("9T$", "9123", Some((1, 4))),
            ("911$", "911", Some((3, 3))),
            ("911$", "9110", None),
        ];
        for (pattern, number, expected) in table {
            assert_eq!(m(pattern, number), *expected, "{pattern} against {number}");
        }
    }

    #[test]
    fn pattern_rejects_table() {
        let table: &[(&str, PatternError)] = &[
            ("", PatternError::Empty),
            (
                "2x..",
                PatternError::Character {
                    character: 'x',
                    at: 1,
                },
            ),
            (
                "%1",
                PatternError::NothingToRepeat {
                    quantifier: '%',
                    at: 0,
                },
            ),
            (
                "1%%",
                PatternError::NothingToRepeat {
                    quantifier: '%',
                    at: 2,
                },
            ),
            (
                "(12",
                PatternError::Unbalanced {
                    bracket: '(',
                    at: 0,
                },
            ),
            (
                "12)",
                PatternError::Unbalanced {
                    bracket: ')',
                    at: 2,
                },
            ),
            (
                "[12",
                PatternError::Unbalanced {
                    bracket: '[',
                    at: 0,
                },
            ),
            ("()", PatternError::EmptyGroup { at: 0 }),
            ("[9-2]", PatternError::Range { at: 1 }),
            ("9T1", PatternError::TNotLast { at: 1 }),
            ("91$2", PatternError::DollarNotLast { at: 2 }),
            ("[^0-9ABCD*#]", PatternError::EmptySet { at: 0 }),
            ("[A-D]", PatternError::Range { at: 1 }),
            ("1\\", PatternError::Escape { at: 1 }),
            (
                "2é",
                PatternError::Character {
                    character: 'é',
                    at: 1,
                },
            ),
        ];
        for (pattern, expected) in table {
            assert_eq!(Pattern::parse(pattern).as_ref(), Err(expected), "{pattern}");
        }
    }

    #[test]
    fn literal_prefix_is_the_run_before_the_first_wildcard() {
        let table = [
            ("9T", "9"),
            ("555....", "555"),
            ("91[2-9]..[2-9]......", "91"),
            ("9011T", "9011"),
            ("911$", "911"),
            ("[2-9]..", ""),
            ("12%", "1"),
            ("+1T", "+1"),
        ];
        for (pattern, prefix) in table {
            assert_eq!(
                Pattern::parse(pattern).unwrap().literal_prefix(),
                prefix,
                "{pattern}"
            );
        }
    }

    #[test]
    fn number_parse_rejects_non_dial_characters() {
        assert_eq!(Digits::parse("12a3").unwrap().as_str(), "12A3");
        assert_eq!(Digits::parse("12e3"), Err(NumberError::Character('e')));
        assert_eq!(Digits::parse("1+2"), Err(NumberError::PlusNotFirst));
        assert_eq!(Digits::parse(&"1".repeat(65)), Err(NumberError::TooLong));
    }
}
