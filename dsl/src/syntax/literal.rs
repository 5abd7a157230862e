//! Values of literals: numbers with `_` separators, compound durations, sizes, string escapes.

/// The value of a number literal; the grammar guarantees its form.
pub fn number(text: &str) -> f64 {
    text.replace('_', "").parse().unwrap_or(f64::NAN)
}

/// Milliseconds of a duration such as `1h30m` (text the grammar has accepted as a duration), or
/// why it cannot be represented.
pub fn duration_millis(text: &str) -> Result<u64, String> {
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit() && c != '_')
            .unwrap_or(rest.len());
        let (digits, tail) = rest.split_at(digits_end);
        let unit_len = if tail.starts_with("ms") { 2 } else { 1 };
        let (unit, tail) = tail.split_at(unit_len.min(tail.len()));
        let scale = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => 7 * 86_400_000,
        };
        total = digits
            .replace('_', "")
            .parse::<u64>()
            .ok()
            .and_then(|count| count.checked_mul(scale))
            .and_then(|part| total.checked_add(part))
            .ok_or_else(|| format!("duration `{text}` is too large"))?;
        rest = tail;
    }
    Ok(total)
}

/// Bytes of a size such as `64MB` (binary multiples: 1 KB is 1024 bytes).
pub fn size_bytes(text: &str) -> Result<u64, String> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit() && c != '_')
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    let scale: u64 = match unit {
        "KB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        "TB" => 1 << 40,
        _ => 1,
    };
    digits
        .replace('_', "")
        .parse::<u64>()
        .ok()
        .and_then(|count| count.checked_mul(scale))
        .ok_or_else(|| format!("size `{text}` is too large"))
}

/// The text of a string literal with its escapes (`\"`, `\\`, `\n`, `\t`) resolved.
pub fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// A string literal that reads back as `text`.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            other => out.push(other),
        }
    }
    out.push('"');
    out
}

/// A duration in the form people write, such as `1h30m`, `30d` or `250ms` (weeks are read but
/// never written: `365d` reads better than `52w1d`).
pub fn format_duration(millis: u64) -> String {
    if millis == 0 {
        return "0s".to_string();
    }
    const UNITS: [(u64, &str); 5] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
        (1, "ms"),
    ];
    let mut rest = millis;
    let mut out = String::new();
    for (scale, unit) in UNITS {
        if rest >= scale {
            out.push_str(&format!("{}{unit}", rest / scale));
            rest %= scale;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_compound_and_round_trip() {
        assert_eq!(duration_millis("1h30m"), Ok(5_400_000));
        assert_eq!(duration_millis("250ms"), Ok(250));
        assert_eq!(duration_millis("2w"), Ok(1_209_600_000));
        assert_eq!(format_duration(5_400_000), "1h30m");
        assert_eq!(format_duration(90_061_001), "1d1h1m1s1ms");
        assert_eq!(format_duration(365 * 86_400_000), "365d");
        assert!(duration_millis("99999999999999999999d").is_err());
    }

    #[test]
    fn sizes_are_binary_multiples() {
        assert_eq!(size_bytes("64KB"), Ok(65_536));
        assert_eq!(size_bytes("1_000B"), Ok(1000));
    }

    #[test]
    fn strings_round_trip_through_quote() {
        let text = "a \"b\" \\ c\nd";
        assert_eq!(unescape(&quote(text)[1..quote(text).len() - 1]), text);
    }
}
