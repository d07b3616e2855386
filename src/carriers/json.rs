//! A pull reader for the fast paths of JSON carrier bodies: it walks a body value by value
//! and hands out its strings borrowed from the body, checking the JSON grammar as it goes
//! (RFC 8259: strings with their escapes and control characters, numbers, literals,
//! nesting). It knows nothing of a carrier's structs; a mapper's reader asks for the value
//! it expects next.
//!
//! Every method answers `None` when the body is not what it asked for, or is not JSON, or
//! is something the reader leaves to serde_json (a key with an escape, a `\uD800`–`\uDFFF`
//! surrogate escape, nesting deeper than [`MAX_DEPTH`]). A mapper then reads the body
//! again with serde_json, which decides and words the outcome, so the reader never has to
//! word an error. What it accepts, serde_json accepts too, with the same strings (its
//! tests hold it to that).

use std::borrow::Cow;

/// Nesting the reader follows; deeper bodies are left to serde_json (limit 128).
pub(crate) const MAX_DEPTH: usize = 100;

/// The position of the first byte of `bytes` that ends the plain run of a string: a
/// quote, a backslash or a control character (not allowed raw in a JSON string). Reads
/// eight bytes at a time: for each, a byte of a word minus one borrows into its high bit
/// exactly when the byte is zero, and the lowest flagged byte is always a true one.
fn special(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    let zero = |word: u64| word.wrapping_sub(ONES) & !word;
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in chunks.by_ref() {
        let word = u64::from_le_bytes(chunk.try_into().ok()?);
        let flagged = (zero(word ^ (ONES * u64::from(b'"')))
            | zero(word ^ (ONES * u64::from(b'\\')))
            | (word.wrapping_sub(ONES * 0x20) & !word))
            & HIGH;
        if flagged != 0 {
            return Some(at + flagged.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    let tail = chunks.remainder();
    tail.iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .map(|i| at + i)
}

/// The fields of an object read so far, by bit: serde rejects a repeated field, so a
/// reader leaves an object with one to serde.
#[derive(Default)]
pub(crate) struct Seen(u64);

impl Seen {
    /// Marks field `bit` (below 64) as read; `None` if it was read before.
    pub(crate) fn first(&mut self, bit: u32) -> Option<()> {
        let mask = 1 << bit;
        if self.0 & mask != 0 {
            return None;
        }
        self.0 |= mask;
        Some(())
    }
}

/// The kinds of value, by their first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Object,
    Array,
    String,
    Number,
    Bool,
    Null,
}

/// A position in a JSON body.
pub(crate) struct Json<'a> {
    body: &'a str,
    at: usize,
}

impl<'a> Json<'a> {
    /// A reader at the start of `body`.
    pub(crate) fn new(body: &'a str) -> Self {
        Self { body, at: 0 }
    }

    /// The kind of the next value, without reading it.
    pub(crate) fn peek(&mut self) -> Option<Kind> {
        Some(match self.next_byte()? {
            b'{' => Kind::Object,
            b'[' => Kind::Array,
            b'"' => Kind::String,
            b'-' | b'0'..=b'9' => Kind::Number,
            b't' | b'f' => Kind::Bool,
            b'n' => Kind::Null,
            _ => return None,
        })
    }

    /// The end of the body: nothing but whitespace left.
    pub(crate) fn finish(&mut self) -> Option<()> {
        match self.next_byte() {
            None => Some(()),
            Some(_) => None,
        }
    }

    /// Reads `null` if it comes next: `Some(true)` if it did, `Some(false)` for another
    /// value.
    pub(crate) fn null(&mut self) -> Option<bool> {
        if self.next_byte()? != b'n' {
            return Some(false);
        }
        self.literal(b"null")?;
        Some(true)
    }

    /// `true` or `false`.
    pub(crate) fn bool(&mut self) -> Option<bool> {
        match self.next_byte()? {
            b't' => self.literal(b"true").map(|()| true),
            b'f' => self.literal(b"false").map(|()| false),
            _ => None,
        }
    }

    /// A string, borrowed from the body unless it has escapes (those are decoded by
    /// serde_json).
    pub(crate) fn str(&mut self) -> Option<Cow<'a, str>> {
        let (quoted, escaped) = self.quoted()?;
        if escaped {
            return serde_json::from_str::<String>(quoted).ok().map(Cow::Owned);
        }
        quoted.get(1..quoted.len() - 1).map(Cow::Borrowed)
    }

    /// A string or `null`, as serde reads an `Option<Cow<str>>`.
    pub(crate) fn str_or_null(&mut self) -> Option<Option<Cow<'a, str>>> {
        self.or_null(Self::str)
    }

    /// The text of a number, as it stands in the body.
    pub(crate) fn number(&mut self) -> Option<&'a str> {
        self.next_byte()?;
        let start = self.at;
        let bytes = self.body.as_bytes();
        let digits = |at: &mut usize| {
            let from = *at;
            while bytes.get(*at).is_some_and(u8::is_ascii_digit) {
                *at += 1;
            }
            *at > from
        };
        let mut at = start;
        if bytes.get(at) == Some(&b'-') {
            at += 1;
        }
        match bytes.get(at) {
            Some(b'0') => at += 1,
            Some(b'1'..=b'9') => {
                digits(&mut at);
            }
            _ => return None,
        }
        if bytes.get(at) == Some(&b'.') {
            at += 1;
            digits(&mut at).then_some(())?;
        }
        if matches!(bytes.get(at), Some(b'e' | b'E')) {
            at += 1;
            if matches!(bytes.get(at), Some(b'+' | b'-')) {
                at += 1;
            }
            digits(&mut at).then_some(())?;
        }
        self.at = at;
        self.body.get(start..at)
    }

    /// Enters an object: its first key, or `None` inside the `Some` for `{}`.
    pub(crate) fn object(&mut self) -> Option<Option<&'a str>> {
        self.expect(b'{')?;
        if self.next_byte()? == b'}' {
            self.at += 1;
            return Some(None);
        }
        self.key().map(Some)
    }

    /// After a value in an object: the next key, or `None` inside the `Some` at its end.
    pub(crate) fn next_key(&mut self) -> Option<Option<&'a str>> {
        match self.next_byte()? {
            b',' => {
                self.at += 1;
                self.key().map(Some)
            }
            b'}' => {
                self.at += 1;
                Some(None)
            }
            _ => None,
        }
    }

    /// Enters an array: `true` if an element follows, `false` for `[]`.
    pub(crate) fn array(&mut self) -> Option<bool> {
        self.expect(b'[')?;
        if self.next_byte()? == b']' {
            self.at += 1;
            return Some(false);
        }
        Some(true)
    }

    /// After an element of an array: `true` if another follows, `false` at its end.
    pub(crate) fn next_element(&mut self) -> Option<bool> {
        match self.next_byte()? {
            b',' => {
                self.at += 1;
                Some(true)
            }
            b']' => {
                self.at += 1;
                Some(false)
            }
            _ => None,
        }
    }

    /// Reads an object, calling `value` with each key to read (or skip) its value.
    pub(crate) fn each_field(
        &mut self,
        mut value: impl FnMut(&mut Self, &'a str) -> Option<()>,
    ) -> Option<()> {
        let mut key = self.object()?;
        while let Some(name) = key {
            value(self, name)?;
            key = self.next_key()?;
        }
        Some(())
    }

    /// An array whose every element `read` reads: as serde reads a `Vec`.
    pub(crate) fn list<T>(
        &mut self,
        mut read: impl FnMut(&mut Self) -> Option<T>,
    ) -> Option<Vec<T>> {
        let mut items = Vec::new();
        let mut more = self.array()?;
        while more {
            items.push(read(self)?);
            more = self.next_element()?;
        }
        Some(items)
    }

    /// `null`, or what `read` reads: as serde reads an `Option`.
    pub(crate) fn or_null<T>(
        &mut self,
        read: impl FnOnce(&mut Self) -> Option<T>,
    ) -> Option<Option<T>> {
        if self.null()? {
            return Some(None);
        }
        read(self).map(Some)
    }

    /// Reads past the next value, checking it.
    pub(crate) fn skip(&mut self) -> Option<()> {
        self.skip_nested(0)
    }

    fn skip_nested(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            Kind::String => self.quoted().map(drop),
            Kind::Number => self.number().map(drop),
            Kind::Bool => self.bool().map(drop),
            Kind::Null => self.literal(b"null"),
            _ if depth >= MAX_DEPTH => None,
            Kind::Object => self.each_field(|json, _| json.skip_nested(depth + 1)),
            // A list of `()`: nothing is stored (a `Vec` of a zero-sized type never allocates).
            Kind::Array => self.list(|json| json.skip_nested(depth + 1)).map(drop),
        }
    }

    /// A key and its colon; `None` for a key with an escape.
    fn key(&mut self) -> Option<&'a str> {
        let (quoted, escaped) = self.quoted()?;
        if escaped {
            return None;
        }
        self.expect(b':')?;
        quoted.get(1..quoted.len() - 1)
    }

    /// The next string with its quotes, and whether it has escapes (checked here). Inlined
    /// into its callers for the usual string, plain up to its closing quote; a string with
    /// an escape (or a control character) goes on in [`Json::quoted_rest`].
    #[inline(always)]
    fn quoted(&mut self) -> Option<(&'a str, bool)> {
        self.expect(b'"')?;
        let bytes = self.body.as_bytes();
        let start = self.at - 1;
        let stop = self.at + special(bytes.get(self.at..)?)?;
        if bytes.get(stop) == Some(&b'"') {
            self.at = stop + 1;
            return Some((self.body.get(start..self.at)?, false));
        }
        self.quoted_rest(start, stop)
    }

    /// [`Json::quoted`] of the string that started at `start`, from its first byte at
    /// `stop` that is no plain character (a backslash, or a control character: `None`).
    #[cold]
    #[inline(never)]
    fn quoted_rest(&mut self, start: usize, mut stop: usize) -> Option<(&'a str, bool)> {
        let bytes = self.body.as_bytes();
        loop {
            let byte = *bytes.get(stop)?;
            if byte < 0x20 {
                return None;
            }
            self.at = stop + 1;
            if byte == b'"' {
                // Only a string with an escape gets here past its first special byte.
                return Some((self.body.get(start..self.at)?, true));
            }
            match bytes.get(self.at)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.at += 1,
                b'u' => {
                    let hex = bytes.get(self.at + 1..self.at + 5)?;
                    hex.iter().all(u8::is_ascii_hexdigit).then_some(())?;
                    // Surrogates are left to serde_json (which pairs them up).
                    if matches!(hex[0], b'd' | b'D') && !matches!(hex[1], b'0'..=b'7') {
                        return None;
                    }
                    self.at += 5;
                }
                _ => return None,
            }
            stop = self.at + special(bytes.get(self.at..)?)?;
        }
    }

    /// `word`, which starts here.
    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.at + word.len();
        (self.body.as_bytes().get(self.at..end)? == word).then_some(())?;
        self.at = end;
        Some(())
    }

    /// Reads `byte`, the next one after any whitespace.
    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next_byte()? == byte).then_some(())?;
        self.at += 1;
        Some(())
    }

    /// The next byte after any whitespace, not read.
    fn next_byte(&mut self) -> Option<u8> {
        let bytes = self.body.as_bytes();
        while let Some(&byte) = bytes.get(self.at) {
            // Every whitespace byte is at most a space: one comparison for the usual byte.
            if byte > b' ' || !matches!(byte, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(byte);
            }
            self.at += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    /// Reads any value with the reader, as serde_json would give it.
    fn value(json: &mut Json<'_>, depth: usize) -> Option<Value> {
        Some(match json.peek()? {
            Kind::Null => {
                json.null()?.then_some(())?;
                Value::Null
            }
            Kind::Bool => Value::Bool(json.bool()?),
            Kind::String => Value::String(json.str()?.into_owned()),
            Kind::Number => serde_json::from_str(json.number()?).ok()?,
            _ if depth >= MAX_DEPTH => return None,
            Kind::Array => Value::Array(json.list(|json| value(json, depth + 1))?),
            Kind::Object => {
                let mut object = serde_json::Map::new();
                json.each_field(|json, name| {
                    object.insert(name.to_owned(), value(json, depth + 1)?);
                    Some(())
                })?;
                Value::Object(object)
            }
        })
    }

    /// The whole body read as one value, then skipped as one.
    fn read(body: &str) -> Option<Value> {
        let mut json = Json::new(body);
        let read = value(&mut json, 0)?;
        json.finish()?;
        let mut skipped = Json::new(body);
        skipped.skip()?;
        skipped.finish()?;
        Some(read)
    }

    /// What the reader accepts, serde_json accepts, with the same value.
    fn agrees(body: &str) {
        if let Some(read) = read(body) {
            let reference: Value = serde_json::from_str(body).expect("serde_json accepts it");
            assert_eq!(read, reference, "{body:?}");
        }
    }

    #[test]
    fn reads_plain_bodies_as_serde_json_does() {
        let bodies = [
            r#"{"a":"b","c":[1,-2.5e3,0,true,false,null,{}],"d":{"e":[]}}"#,
            " [ \"x\" , { \"y\" : \"z\" } ]\n",
            r#""plain text of exactly sixteen!!""#,
            r#"{"long":"a text well beyond eight bytes, with ümlauts and 📦 inside"}"#,
            r#"["a\"b","c\\d","\/\b\f\n\r\t","\u00fc\u20ac"]"#,
            r#"-0"#,
            r#"1E+5"#,
        ];
        for body in bodies {
            assert!(read(body).is_some(), "{body}");
            agrees(body);
        }
    }

    #[test]
    fn leaves_what_is_not_plain_json_to_serde_json() {
        let bodies = [
            "",
            "{",
            r#"{"a":1,}"#,
            r#"[1,]"#,
            r#"{"a" 1}"#,
            r#"{"a":1} x"#,
            r#"01"#,
            r#"1."#,
            r#"-"#,
            r#".5"#,
            r#"1e"#,
            r#"nul"#,
            r#"truex"#,
            r#"NaN"#,
            "\"tab\there\"",
            "\"bell\u{7}\"",
            r#""\x""#,
            r#""\u12""#,
            r#""\ud83d\udce6""#,
            r#"{"k\u0065y":1}"#,
            r#""unterminated"#,
            r#"'single'"#,
        ];
        for body in bodies {
            assert_eq!(read(body), None, "{body}");
        }
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(read(&deep), None);
    }

    #[test]
    fn finds_the_first_special_byte_at_every_position() {
        for len in 0..40 {
            for special_byte in [b'"', b'\\', 0x00, 0x1f] {
                for at in 0..len {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = special_byte;
                    // Bytes that are no special ones, after it and around the thresholds.
                    for later in bytes.iter_mut().skip(at + 1) {
                        *later = 0x20;
                    }
                    assert_eq!(special(&bytes), Some(at), "{len} {special_byte} {at}");
                }
                let plain: Vec<u8> = (0..len).map(|i| [0x20, 0x7f, 0x80, 0xff][i % 4]).collect();
                assert_eq!(special(&plain), None);
            }
        }
    }

    proptest! {
        #[test]
        fn any_string_reads_back_as_written(text in any::<String>()) {
            let body = serde_json::to_string(&text).expect("encodes");
            // serde_json escapes only what it must; surrogate escapes are left to it.
            prop_assert_eq!(read(&body), Some(Value::String(text)));
        }

        #[test]
        fn any_bytes_in_a_string_agree_with_serde_json(
            inner in proptest::collection::vec(
                prop_oneof![
                    Just(b'"'), Just(b'\\'), Just(b'u'), Just(b'n'), Just(b'0'), Just(b'd'),
                    Just(b'8'), Just(0x1f), Just(b'a'), Just(b' '),
                ],
                0..24,
            )
        ) {
            let body = format!("[\"{}\"]", String::from_utf8(inner).expect("ascii"));
            agrees(&body);
        }

        #[test]
        fn any_json_value_reads_as_serde_json_reads_it(value in json_value()) {
            let compact = serde_json::to_string(&value).expect("encodes");
            let pretty = serde_json::to_string_pretty(&value).expect("encodes");
            // Compared with serde_json's reading of the text (its float reading is not
            // exact without its `float_roundtrip` feature).
            for body in [compact, pretty] {
                let reference: Value = serde_json::from_str(&body).expect("reads back");
                prop_assert_eq!(read(&body), Some(reference));
            }
        }
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "[a-zA-Z0-9 äöü\"\\\\/\n\t\u{1}]{0,20}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z]{1,8}", inner, 0..6)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }
}
