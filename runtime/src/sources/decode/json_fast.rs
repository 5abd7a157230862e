//! The common shape of the reference message, read in one pass over its bytes: an object of
//! exactly `metric_name`, `timestamp`, `value` and `labels` (in any order, with any whitespace),
//! plain ASCII strings without escapes, a whole-number timestamp and a flat object of labels.
//! serde_json took 430 ns for a 173-byte message, whose fields it only borrows (BENCHMARKS.md);
//! this pass takes a third of that. Anything else — escapes, other fields, non-ASCII text,
//! invalid JSON — is left to the general reader (`json.rs`), which also says what is wrong: this
//! one only ever answers for messages that reader reads the same way.

use std::ops::Range;

use super::Reading;

/// The parts of a message in the common shape: the raw metric name (with its quotes), the raw
/// labels object (empty when there is none), and the reading.
pub struct Common {
    pub metric: Range<usize>,
    pub labels: Range<usize>,
    pub reading: Reading,
}

struct Cursor<'m> {
    bytes: &'m [u8],
    at: usize,
}

impl Cursor<'_> {
    #[inline]
    fn skip_space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    #[inline]
    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// A string of printable ASCII without escapes; its range, quotes included.
    #[inline]
    fn string(&mut self) -> Option<Range<usize>> {
        let start = self.at;
        self.eat(b'"')?;
        loop {
            match self.peek()? {
                b'"' => {
                    self.at += 1;
                    return Some(start..self.at);
                }
                0x20..=0x7e if self.peek()? != b'\\' => self.at += 1,
                _ => return None,
            }
        }
    }

    /// A JSON number (`-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`); its range.
    #[inline]
    fn number(&mut self) -> Option<Range<usize>> {
        let start = self.at;
        self.eat(b'-').unwrap_or(());
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.eat(b'.').is_some() {
            self.peek().filter(u8::is_ascii_digit)?;
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            self.peek().filter(u8::is_ascii_digit)?;
            self.digits();
        }
        Some(start..self.at)
    }

    #[inline]
    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
    }

    /// A flat object of string values; its range.
    fn labels(&mut self) -> Option<Range<usize>> {
        let start = self.at;
        self.eat(b'{')?;
        self.skip_space();
        if self.eat(b'}').is_some() {
            return Some(start..self.at);
        }
        loop {
            self.skip_space();
            self.string()?;
            self.skip_space();
            self.eat(b':')?;
            self.skip_space();
            self.string()?;
            self.skip_space();
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(start..self.at);
                }
                _ => return None,
            }
        }
    }
}

/// The message read in one pass when it is in the common shape; `None` otherwise (including
/// when it is not valid).
#[inline]
pub fn read(message: &[u8]) -> Option<Common> {
    let mut cursor = Cursor {
        bytes: message,
        at: 0,
    };
    let (mut metric, mut timestamp, mut value, mut labels) = (None, None, None, None);
    cursor.skip_space();
    cursor.eat(b'{')?;
    loop {
        cursor.skip_space();
        let key = cursor.string()?;
        cursor.skip_space();
        cursor.eat(b':')?;
        cursor.skip_space();
        let slot = match &message[key.start + 1..key.end - 1] {
            b"metric_name" => &mut metric,
            b"timestamp" => &mut timestamp,
            b"value" => &mut value,
            b"labels" => &mut labels,
            _ => return None,
        };
        if slot.is_some() {
            return None;
        }
        *slot = Some(match &message[key.start + 1..key.end - 1] {
            b"metric_name" => cursor.string()?,
            b"labels" => cursor.labels()?,
            _ => cursor.number()?,
        });
        cursor.skip_space();
        match cursor.peek()? {
            b',' => cursor.at += 1,
            b'}' => {
                cursor.at += 1;
                break;
            }
            _ => return None,
        }
    }
    cursor.skip_space();
    if cursor.at != message.len() {
        return None;
    }
    let timestamp = &message[timestamp?];
    if timestamp.len() > 19 || !timestamp.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let ts = timestamp
        .iter()
        .fold(0u64, |n, digit| n * 10 + u64::from(digit - b'0'));
    let value: f64 = std::str::from_utf8(&message[value?]).ok()?.parse().ok()?;
    if !value.is_finite() {
        return None;
    }
    Some(Common {
        metric: metric?,
        labels: labels.unwrap_or(0..0),
        reading: Reading { ts, value },
    })
}
