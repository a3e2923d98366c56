//! Hands memory a cycle freed back to the system. A cycle can allocate tens of megabytes
//! (a 1,000-file archive, a flood of output); glibc keeps freed memory for reuse, so a
//! long-lived server idling between saves would otherwise hold its peak all day.

/// Returns free heap pages to the system (glibc's `malloc_trim`); elsewhere a no-op.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: malloc_trim only walks glibc's own heap bookkeeping; it takes no pointers
        // from us and is safe to call at any time from any thread.
        unsafe {
            malloc_trim(0);
        }
    }
}
