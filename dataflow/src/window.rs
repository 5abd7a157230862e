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
}

/// The window starts of the timestamp last asked about, kept: samples come in time order, so
/// most share the starts of the one before, and a division per sample was a tenth of the time
/// it took to add it to its windows.
#[derive(Debug, Clone)]
pub struct Assigner {
    windows: Windows,
    /// The starts below hold for timestamps in `[from, to)`.
    from: u64,
    to: u64,
    first: u64,
    last: u64,
}

impl Assigner {
    /// An assigner of windows of this shape.
    pub fn new(windows: Windows) -> Self {
        Assigner {
            windows,
            from: 0,
            to: 0,
            first: 0,
            last: 0,
        }
    }

    /// The length of the windows it assigns.
    pub fn size(&self) -> u64 {
        self.windows.size
    }

    /// The starts of the windows that contain `ts`, earliest first, as [`Windows::starts`].
    #[inline]
    pub fn starts(&mut self, ts: u64) -> impl Iterator<Item = u64> + use<> {
        if !(self.from..self.to).contains(&ts) {
            self.assign(ts);
        }
        (self.first..=self.last).step_by(self.windows.slide as usize)
    }

    /// The start of the one window `ts` falls in, when it falls in one (always, for tumbling
    /// windows): the common case, without an iterator.
    #[inline]
    pub fn only_start(&mut self, ts: u64) -> Option<u64> {
        if !(self.from..self.to).contains(&ts) {
            self.assign(ts);
        }
        (self.first == self.last).then_some(self.first)
    }

    /// The starts of the windows that contain all of `[start, end)`, for cascades whose input
    /// windows are whole multiples of the slide.
    pub fn starts_covering(&mut self, start: u64, end: u64) -> impl Iterator<Item = u64> + use<> {
        let size = self.windows.size;
        self.starts(start).filter(move |s| s + size >= end)
    }

    fn assign(&mut self, ts: u64) {
        let windows = self.windows;
        self.last = ts - ts % windows.slide;
        self.first = windows.starts(ts).next().unwrap_or(self.last);
        // When the size is a whole number of slides, every timestamp from one window start to
        // the next is in the same windows.
        (self.from, self.to) = if windows.size.is_multiple_of(windows.slide) {
            (self.last, self.last + windows.slide)
        } else {
            (ts, ts + 1)
        };
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
        let mut assigner = Assigner::new(w);
        assert_eq!(
            assigner.starts_covering(100, 200).collect::<Vec<_>>(),
            [0, 100]
        );
    }

    #[test]
    fn the_assigner_gives_the_starts_of_every_timestamp() {
        for (size, slide) in [(60, 60), (300, 100), (50, 20), (7, 3)] {
            let windows = Windows { size, slide };
            let mut assigner = Assigner::new(windows);
            for ts in (0..400).chain([399, 5, 6, 1000, 999]) {
                assert_eq!(
                    assigner.starts(ts).collect::<Vec<_>>(),
                    windows.starts(ts).collect::<Vec<_>>(),
                    "size {size}, slide {slide}, ts {ts}"
                );
            }
        }
    }
}
