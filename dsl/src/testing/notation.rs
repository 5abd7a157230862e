//! promtool's expanding notation for input series, so that series written for `promtool test
//! rules` can be pasted into a test block unchanged: `1+2x3` is `1 3 5 7`, `50x2` is
//! `50 50 50`, `_` is a missing sample and `_x3` three of them, `stale` a missing sample too.

use std::ops::Range;

/// A value that could not be read: where in the text it stands and why.
#[derive(Debug, Clone, PartialEq)]
pub struct NotationError {
    /// Byte range within the notation text.
    pub at: Range<usize>,
    /// What is wrong.
    pub message: String,
}

/// The samples `text` describes, one per interval, `None` where a sample is missing.
pub fn expand(text: &str) -> Result<Vec<Option<f64>>, NotationError> {
    let mut values = Vec::new();
    let mut offset = 0;
    for token in text.split_whitespace() {
        let start = offset
            + text[offset..]
                .find(token)
                .expect("the token is in the text");
        offset = start + token.len();
        expand_token(token, &mut values).map_err(|message| NotationError {
            at: start..offset,
            message,
        })?;
    }
    Ok(values)
}

fn expand_token(token: &str, values: &mut Vec<Option<f64>>) -> Result<(), String> {
    if token == "_" || token == "stale" {
        values.push(None);
        return Ok(());
    }
    let (base, repeat) = match token.rsplit_once('x') {
        Some((base, count)) if !base.is_empty() => (base, Some(count)),
        _ => (token, None),
    };
    let count = repeat
        .map(|count| {
            count
                .parse::<usize>()
                .map_err(|_| format!("`{count}` after `x` is not a count of repetitions"))
        })
        .transpose()?;
    if base == "_" {
        let count = count.unwrap_or(1);
        values.extend(std::iter::repeat_n(None, count));
        return Ok(());
    }
    let (start, increment) = split_increment(base)?;
    match count {
        None if increment.is_some() => Err(format!(
            "`{token}` has an increment but no `xN` repetition count"
        )),
        None => {
            values.push(Some(start));
            Ok(())
        }
        Some(count) => {
            let increment = increment.unwrap_or(0.0);
            values.extend((0..=count).map(|step| Some(start + increment * step as f64)));
            Ok(())
        }
    }
}

/// `a`, `a+b` or `a-b`, where `a` may be signed and either may have an exponent.
fn split_increment(base: &str) -> Result<(f64, Option<f64>), String> {
    let bytes = base.as_bytes();
    let operator = (1..bytes.len())
        .find(|&at| matches!(bytes[at], b'+' | b'-') && !matches!(bytes[at - 1], b'e' | b'E'));
    let number = |text: &str| match text {
        "" => Err(format!("`{base}` misses a number")),
        _ => parse_number(text).ok_or_else(|| format!("`{text}` is not a number")),
    };
    match operator {
        None => Ok((number(base)?, None)),
        Some(at) => {
            let start = number(&base[..at])?;
            let magnitude = number(&base[at + 1..])?;
            let sign = if bytes[at] == b'-' { -1.0 } else { 1.0 };
            Ok((start, Some(sign * magnitude)))
        }
    }
}

/// A number as PromQL writes one, including `Inf`, `-Inf` and `NaN`.
fn parse_number(text: &str) -> Option<f64> {
    match text.to_ascii_lowercase().as_str() {
        "inf" | "+inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        "nan" => Some(f64::NAN),
        _ => text.parse().ok().filter(|value: &f64| value.is_finite()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<Option<f64>> {
        expand(text).unwrap()
    }

    #[test]
    fn promtool_examples_expand_as_promtool_expands_them() {
        assert_eq!(
            values("1+2x3"),
            [Some(1.0), Some(3.0), Some(5.0), Some(7.0)]
        );
        assert_eq!(values("50x2"), [Some(50.0); 3]);
        assert_eq!(values("10-2x2"), [Some(10.0), Some(8.0), Some(6.0)]);
        assert_eq!(
            values("-1+1x1 _ _x2 stale 4"),
            [Some(-1.0), Some(0.0), None, None, None, None, Some(4.0)]
        );
        assert_eq!(
            values("1e+3 2.5e-1x1"),
            [Some(1000.0), Some(0.25), Some(0.25)]
        );
        assert_eq!(
            values("Inf -Inf")[..],
            [Some(f64::INFINITY), Some(f64::NEG_INFINITY)]
        );
        assert!(values("NaN")[0].unwrap().is_nan());
    }

    #[test]
    fn a_bad_token_is_located() {
        let error = expand("1 2 3+ax4").unwrap_err();
        assert_eq!(error.at, 4..9);
        assert_eq!(error.message, "`a` is not a number");
        let error = expand("1+1").unwrap_err();
        assert_eq!(
            error.message,
            "`1+1` has an increment but no `xN` repetition count"
        );
        assert_eq!(
            expand("5xy").unwrap_err().message,
            "`y` after `x` is not a count of repetitions"
        );
    }
}
