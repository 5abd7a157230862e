//! A hint to start loading memory that will be read soon, where the processor cannot guess it:
//! at a step boundary the alert state reads, for every series in turn, slots at several places
//! of its ring, each place a stream of its own (waiting on them was a third of the time spent
//! firing), and a sketch counting its waiting values reads its bucket counts, a minute after
//! it last did.

/// Asks the processor to bring the cache line of `value`'s first byte in, without waiting.
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    prefetch_address((value as *const T).cast());
}

/// Asks for every cache line of the values of `slice`.
#[inline(always)]
pub fn prefetch_slice<T>(slice: &[T]) {
    let start = slice.as_ptr().cast::<u8>();
    for offset in (0..std::mem::size_of_val(slice)).step_by(64) {
        prefetch_address(start.wrapping_add(offset));
    }
}

#[inline(always)]
fn prefetch_address(address: *const u8) {
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    // SAFETY: a prefetch only hints the cache: it reads nothing the program sees and does not
    // fault, whatever the address.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(address.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}
