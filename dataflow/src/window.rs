//! Which windows a timestamp falls in. Windows are aligned to the Unix epoch and half-open.

use pipe_dsl::plan::Window;

/// A window shape in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    /// Window length.
    pub size: u64,
    /// Time between window starts.
    pub slide: u64,
}

impl Windows {
    /// The shape of a plan's window.
    pub fn of(window: &Window) -> Self {
        Windows {
            size: window.size().millis(),
            slide: window.slide().millis(),
        }
    }

    /// The starts of the windows that contain `ts`, earliest first.
    pub fn starts(&self, ts: u64) -> impl Iterator<Item = u64> + use<> {
        let last = ts - ts % self.slide;
        let first = if ts + 1 >= self.size {
            (ts + 1 - self.size).div_ceil(self.slide) * self.slide
        } else {
            0
        };
        let slide = self.slide;
        (first..=last).step_by(slide as usize)
    }

    /// The starts of the windows that contain all of `[start, end)`, for cascades whose input
    /// windows are whole multiples of the slide.
    pub fn starts_covering(&self, start: u64, end: u64) -> impl Iterator<Item = u64> + use<> {
        let size = self.size;
        self.starts(start).filter(move |s| s + size >= end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tumbling_windows_hold_each_timestamp_once() {
        let w = Windows {
            size: 60_000,
            slide: 60_000,
        };
        assert_eq!(w.starts(59_999).collect::<Vec<_>>(), [0]);
        assert_eq!(w.starts(60_000).collect::<Vec<_>>(), [60_000]);
    }

    #[test]
    fn hopping_windows_hold_each_timestamp_size_over_slide_times() {
        let w = Windows {
            size: 300,
            slide: 100,
        };
        assert_eq!(w.starts(250).collect::<Vec<_>>(), [0, 100, 200]);
        assert_eq!(w.starts(50).collect::<Vec<_>>(), [0]);
        assert_eq!(w.starts(300).collect::<Vec<_>>(), [100, 200, 300]);
        assert_eq!(w.starts_covering(100, 200).collect::<Vec<_>>(), [0, 100]);
    }
}
