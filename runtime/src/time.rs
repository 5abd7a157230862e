//! Event times as people read them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `2026-11-26T21:03:15.000Z`.
pub fn rfc3339(millis: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(millis)).to_string()
}

/// `21:03:15`, in UTC.
pub fn clock_time(millis: u64) -> String {
    rfc3339(millis)[11..19].to_string()
}

/// Milliseconds since the Unix epoch, now.
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_times() {
        assert_eq!(rfc3339(1_767_225_600_000), "2026-01-01T00:00:00.000Z");
        assert_eq!(clock_time(1_767_225_600_000 + 3_723_000), "01:02:03");
    }
}
