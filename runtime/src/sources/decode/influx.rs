//! InfluxDB line protocol: `measurement,tag=value field=1.5,other=2i 1700000000000000000`, one
//! point per line, nanosecond timestamps. Each numeric field is a sample of the metric
//! `measurement_field` (`measurement` for a field called `value`), with the tags as labels;
//! booleans are 1 and 0, and string fields are skipped, as VictoriaMetrics and Telegraf's
//! Prometheus output do.

use std::ops::Range;

use super::dictionary::StatedKey;
use super::{Reading, Reason, StatedLabels};

/// One field of a point: where its series (measurement and tags) and its name are in the
/// message.
#[derive(Debug, Clone)]
struct Field {
    series: Range<usize>,
    name: Range<usize>,
    reading: Reading,
}

/// The points of the last message read, kept to reuse their allocation.
#[derive(Debug, Default)]
pub struct Lines {
    fields: Vec<Field>,
}

impl Lines {
    /// Reads every line of `message`; refuses the whole message at its first bad line.
    pub fn read(&mut self, message: &[u8]) -> Result<(), Reason> {
        self.fields.clear();
        let mut start = 0;
        for line in message.split(|&b| b == b'\n') {
            let end = start + line.len();
            let trimmed = line.strip_suffix(b"\r").unwrap_or(line);
            if !(trimmed.is_empty() || trimmed[0] == b'#') {
                self.point(message, start..start + trimmed.len())?;
            }
            start = end + 1;
        }
        Ok(())
    }

    fn point(&mut self, message: &[u8], line: Range<usize>) -> Result<(), Reason> {
        let text = &message[line.clone()];
        let series_end = unescaped(text, 0, b' ', false).ok_or(Reason::Malformed)?;
        let fields_end = unescaped(text, series_end + 1, b' ', true).unwrap_or(text.len());
        let timestamp = std::str::from_utf8(&text[fields_end..])
            .map_err(|_| Reason::Malformed)?
            .trim();
        let quotes = text[series_end..fields_end]
            .iter()
            .enumerate()
            .filter(|&(at, &b)| b == b'"' && (at == 0 || text[series_end + at - 1] != b'\\'))
            .count();
        if series_end == 0 || text[0] == b',' || quotes % 2 == 1 {
            return Err(Reason::Malformed);
        }
        if timestamp.is_empty() {
            return Err(Reason::MissingField);
        }
        let nanos: i128 = timestamp.parse().map_err(|_| Reason::WrongType)?;
        let ts = u64::try_from(nanos / 1_000_000).map_err(|_| Reason::WrongType)?;
        let series = line.start..line.start + series_end;
        let mut at = series_end + 1;
        while at < fields_end {
            let end = unescaped(text, at, b',', true).map_or(fields_end, |e| e.min(fields_end));
            let equals = unescaped(&text[..end], at, b'=', false).ok_or(Reason::Malformed)?;
            if equals == at {
                return Err(Reason::Malformed);
            }
            if let Some(value) = field_value(&text[equals + 1..end])? {
                self.fields.push(Field {
                    series: series.clone(),
                    name: line.start + at..line.start + equals,
                    reading: Reading { ts, value },
                });
            }
            at = end + 1;
        }
        Ok(())
    }

    /// Each sample read, with its place among them.
    pub fn readings(&self) -> impl Iterator<Item = (usize, Reading)> + '_ {
        self.fields.iter().map(|f| f.reading).enumerate()
    }

    /// The series key of sample `at`.
    pub fn key(&self, message: &[u8], at: usize) -> StatedKey {
        let field = &self.fields[at];
        StatedKey::of(&[&message[field.series.clone()], &message[field.name.clone()]])
    }

    /// The metric name and labels of sample `at`.
    pub fn labels(&self, message: &[u8], at: usize) -> Result<StatedLabels, Reason> {
        let field = &self.fields[at];
        let series = &message[field.series.clone()];
        let mut parts = Vec::new();
        let mut start = 0;
        while start <= series.len() {
            let end = unescaped(series, start, b',', false).unwrap_or(series.len());
            parts.push(&series[start..end]);
            start = end + 1;
        }
        let measurement = unescape(parts[0])?;
        let name = unescape(&message[field.name.clone()])?;
        let metric = if name == "value" {
            measurement
        } else {
            format!("{measurement}_{name}")
        };
        let mut stated = vec![(pipe_dsl::plan::METRIC_NAME.to_string(), metric)];
        for tag in &parts[1..] {
            let equals = unescaped(tag, 0, b'=', false).ok_or(Reason::Malformed)?;
            stated.push((unescape(&tag[..equals])?, unescape(&tag[equals + 1..])?));
        }
        Ok(stated)
    }
}

/// The first `byte` at or after `from` that no backslash escapes (outside double quotes when
/// `quotes`).
fn unescaped(text: &[u8], from: usize, byte: u8, quotes: bool) -> Option<usize> {
    let mut quoted = false;
    let mut at = from;
    while at < text.len() {
        match text[at] {
            b'\\' => at += 1,
            b'"' if quotes => quoted = !quoted,
            b if b == byte && !quoted => return Some(at),
            _ => {}
        }
        at += 1;
    }
    None
}

fn unescape(text: &[u8]) -> Result<String, Reason> {
    let text = std::str::from_utf8(text).map_err(|_| Reason::Malformed)?;
    Ok(text
        .replace("\\,", ",")
        .replace("\\=", "=")
        .replace("\\ ", " "))
}

/// A field's number; `None` for a string field.
fn field_value(text: &[u8]) -> Result<Option<f64>, Reason> {
    let text = std::str::from_utf8(text).map_err(|_| Reason::Malformed)?;
    if text.starts_with('"') {
        return if text.len() >= 2 && text.ends_with('"') {
            Ok(None)
        } else {
            Err(Reason::Malformed)
        };
    }
    let value = match text {
        "t" | "T" | "true" | "True" | "TRUE" => 1.0,
        "f" | "F" | "false" | "False" | "FALSE" => 0.0,
        _ => {
            let number = text.strip_suffix(['i', 'u']).unwrap_or(text);
            number.parse::<f64>().map_err(|_| Reason::WrongType)?
        }
    };
    if value.is_finite() {
        Ok(Some(value))
    } else {
        Err(Reason::NonFinite)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(message: &str) -> Result<Vec<(StatedLabels, Reading)>, Reason> {
        let mut lines = Lines::default();
        lines.read(message.as_bytes())?;
        lines
            .readings()
            .map(|(at, reading)| Ok((lines.labels(message.as_bytes(), at)?, reading)))
            .collect()
    }

    fn labels(pairs: &[(&str, &str)]) -> StatedLabels {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn each_numeric_field_of_each_point_is_a_sample() {
        let points = read(
            "# comment\ncpu,host=h\\ 1,region=eu usage=42.5,idle=7i,up=t,note=\"a b, c\" 1700000000000000000\r\n\nmem value=3 1700000000015000000\n",
        )
        .unwrap();
        let expected = [
            (
                labels(&[
                    ("metric_name", "cpu_usage"),
                    ("host", "h 1"),
                    ("region", "eu"),
                ]),
                42.5,
            ),
            (
                labels(&[
                    ("metric_name", "cpu_idle"),
                    ("host", "h 1"),
                    ("region", "eu"),
                ]),
                7.0,
            ),
            (
                labels(&[("metric_name", "cpu_up"), ("host", "h 1"), ("region", "eu")]),
                1.0,
            ),
            (labels(&[("metric_name", "mem")]), 3.0),
        ];
        assert_eq!(points.len(), expected.len());
        for ((got, reading), (labels, value)) in points.iter().zip(expected) {
            assert_eq!((got, reading.value), (&labels, value));
        }
        assert_eq!(points[0].1.ts, 1_700_000_000_000);
        assert_eq!(points[3].1.ts, 1_700_000_000_015);
    }

    #[test]
    fn bad_lines_refuse_the_message() {
        for (message, reason) in [
            ("cpu", Reason::Malformed),
            ("cpu usage=1", Reason::MissingField),
            ("cpu usage=abc 1", Reason::WrongType),
            ("cpu usage=1 soon", Reason::WrongType),
            ("cpu =1 1", Reason::Malformed),
            ("cpu usage=\"open 1", Reason::Malformed),
            ("ok value=1 1\nbad", Reason::Malformed),
        ] {
            assert_eq!(read(message).err(), Some(reason), "{message}");
        }
    }
}
