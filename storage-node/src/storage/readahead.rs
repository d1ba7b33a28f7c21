//! Read-ahead of the arrays searches scan, started by [`Store::open`](super::Store::open).
//!
//! After a restart with a cold page cache, the first search would bring the scanned array
//! in one page fault's read-ahead window at a time: a single stream, 0.9 GB/s on the
//! development VM, whose disk gives 2.4 GB/s when it has several reads queued.
//! `MADV_WILLNEED` on a whole mapping does not fix that: Linux reads only the first
//! read-ahead window of the range it is given (8 MiB of a 256 MiB segment there). So a
//! background thread asks for the arrays one window at a time with
//! `posix_fadvise(POSIX_FADV_WILLNEED)`, in the order a scan reads them. Each call queues
//! its reads and returns, so the disk always has work while the scan follows behind. The
//! thread copies nothing and maps nothing; what it brings in is ordinary page cache,
//! reclaimable like any other, and it stops after `StoreConfig::read_ahead_bytes` (the
//! server's default is half the memory the process may use) or when the store closes.
//!
//! Off Linux there is no `posix_fadvise`; the store then reads nothing ahead.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// Smallest window asked for at a time: Linux's default read-ahead window, which every
/// block device allows in one `POSIX_FADV_WILLNEED`.
pub(crate) const MIN_WINDOW: u64 = 128 << 10;
/// Largest window asked for at a time.
pub(crate) const MAX_WINDOW: u64 = 8 << 20;

/// One `POSIX_FADV_WILLNEED` request: `len` bytes at `offset` of file number `file`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Piece {
    pub file: usize,
    pub offset: u64,
    pub len: u64,
}

/// The requests for files of `lens` bytes, files in order and each front to back in
/// `window`-byte pieces, ending once `budget` bytes are asked for (the last piece is cut
/// to fit). A zero window is taken as [`MIN_WINDOW`].
pub(crate) fn plan(lens: &[u64], window: u64, budget: u64) -> Vec<Piece> {
    let window = if window == 0 { MIN_WINDOW } else { window };
    let mut left = budget;
    let mut pieces = Vec::new();
    for (file, &len) in lens.iter().enumerate() {
        let mut offset = 0;
        while offset < len && left > 0 {
            let piece = window.min(len - offset).min(left);
            pieces.push(Piece {
                file,
                offset,
                len: piece,
            });
            offset += piece;
            left -= piece;
        }
    }
    pieces
}

/// The window for a device whose `read_ahead_kb` (sysfs) reads `text`: Linux caps one
/// `POSIX_FADV_WILLNEED` at the larger of that window and the device's largest request,
/// so asking for the read-ahead window is never cut short. Clamped to
/// [`MIN_WINDOW`]..=[`MAX_WINDOW`]; [`MIN_WINDOW`] when it cannot be read.
pub(crate) fn window_from_read_ahead_kb(text: Option<&str>) -> u64 {
    text.and_then(|t| t.trim().parse::<u64>().ok())
        .map_or(MIN_WINDOW, |kb| {
            kb.saturating_mul(1024).clamp(MIN_WINDOW, MAX_WINDOW)
        })
}

/// The read-ahead window of the device holding `dir`, from
/// `/sys/class/bdi/<major>:<minor>/read_ahead_kb`.
pub(crate) fn window_for(dir: &Path) -> u64 {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let text = std::fs::metadata(dir).ok().and_then(|m| {
            let dev = m.dev();
            let path = format!(
                "/sys/class/bdi/{}:{}/read_ahead_kb",
                libc::major(dev),
                libc::minor(dev)
            );
            std::fs::read_to_string(path).ok()
        });
        window_from_read_ahead_kb(text.as_deref())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        MIN_WINDOW
    }
}

/// The background read-ahead of one open store; dropping it stops the thread and waits
/// for it (at most one queued request).
pub(crate) struct ReadAhead {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ReadAhead {
    /// Starts reading ahead the first `len` bytes of each file, in order, at most `budget`
    /// bytes in all; a zero budget or nothing to read starts no thread.
    pub fn start(files: Vec<(PathBuf, u64)>, window: u64, budget: u64) -> ReadAhead {
        let stop = Arc::new(AtomicBool::new(false));
        let lens: Vec<u64> = files.iter().map(|(_, len)| *len).collect();
        let pieces = plan(&lens, window, budget);
        if pieces.is_empty() || !cfg!(target_os = "linux") {
            return ReadAhead { stop, thread: None };
        }
        let paths: Vec<PathBuf> = files.into_iter().map(|(path, _)| path).collect();
        let flag = Arc::clone(&stop);
        let spawned = std::thread::Builder::new()
            .name("sutra-read-ahead".into())
            .spawn(move || run(&paths, &pieces, &flag));
        match spawned {
            Ok(thread) => ReadAhead {
                stop,
                thread: Some(thread),
            },
            Err(error) => {
                tracing::warn!(%error, "cannot start the read-ahead thread; searches read on demand");
                ReadAhead { stop, thread: None }
            }
        }
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(paths: &[PathBuf], pieces: &[Piece], stop: &AtomicBool) {
    let started = std::time::Instant::now();
    let mut open: Option<(usize, std::fs::File)> = None;
    let mut asked = 0u64;
    for piece in pieces {
        if stop.load(Ordering::Relaxed) {
            tracing::debug!(bytes = asked, "read-ahead stopped: the store closed");
            return;
        }
        if open.as_ref().is_none_or(|(file, _)| *file != piece.file) {
            // A file compaction has replaced since the plan is skipped, not an error.
            match std::fs::File::open(&paths[piece.file]) {
                Ok(file) => open = Some((piece.file, file)),
                Err(error) => {
                    tracing::debug!(path = %paths[piece.file].display(), %error, "read-ahead skips a file");
                    open = None;
                    continue;
                }
            }
        }
        if let Some((_, file)) = &open {
            will_need(file, piece.offset, piece.len);
            asked += piece.len;
        }
    }
    tracing::info!(
        bytes = asked,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "read-ahead of the scanned arrays queued"
    );
}

/// Asks for `len` bytes of `file` at `offset` a `window` at a time (one call for the
/// whole range would be cut to one window).
pub(crate) fn will_need_range(file: &std::fs::File, offset: u64, len: u64, window: u64) {
    for piece in plan(&[len], window, u64::MAX) {
        will_need(file, offset + piece.offset, piece.len);
    }
}

#[cfg(target_os = "linux")]
fn will_need(file: &std::fs::File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: an advisory call on an open descriptor; no memory is passed.
    let rc = unsafe {
        libc::posix_fadvise(
            file.as_raw_fd(),
            offset as libc::off_t,
            len as libc::off_t,
            libc::POSIX_FADV_WILLNEED,
        )
    };
    if rc != 0 {
        tracing::debug!(rc, "posix_fadvise(WILLNEED) refused");
    }
}

#[cfg(not(target_os = "linux"))]
fn will_need(_file: &std::fs::File, _offset: u64, _len: u64) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_walks_files_in_order_in_windows_and_cuts_the_last_piece() {
        let pieces = plan(&[10, 0, 7], 4, u64::MAX);
        let got: Vec<(usize, u64, u64)> =
            pieces.iter().map(|p| (p.file, p.offset, p.len)).collect();
        assert_eq!(
            got,
            vec![(0, 0, 4), (0, 4, 4), (0, 8, 2), (2, 0, 4), (2, 4, 3)]
        );
    }

    #[test]
    fn plan_stops_at_the_budget() {
        let pieces = plan(&[10, 7], 4, 9);
        let got: Vec<(usize, u64, u64)> =
            pieces.iter().map(|p| (p.file, p.offset, p.len)).collect();
        assert_eq!(got, vec![(0, 0, 4), (0, 4, 4), (0, 8, 1)]);
        assert_eq!(pieces.iter().map(|p| p.len).sum::<u64>(), 9);
        assert!(plan(&[10, 7], 4, 0).is_empty());
        assert!(plan(&[], 4, 100).is_empty());
    }

    #[test]
    fn plan_covers_every_byte_once_whatever_the_window() {
        let lens = [1u64, 4095, 4096, 4097, 1 << 20, 0, 3];
        for window in [0, 1, 7, 4096, 1 << 16, 1 << 30] {
            let pieces = plan(&lens, window, u64::MAX);
            for (file, &len) in lens.iter().enumerate() {
                let mut next = 0;
                for piece in pieces.iter().filter(|p| p.file == file) {
                    assert_eq!(piece.offset, next, "window {window}: a gap or overlap");
                    assert!(piece.len > 0);
                    assert!(piece.len <= if window == 0 { MIN_WINDOW } else { window });
                    next += piece.len;
                }
                assert_eq!(next, len, "window {window}: file {file} not covered");
            }
        }
    }

    #[test]
    fn window_follows_read_ahead_kb_within_bounds() {
        assert_eq!(window_from_read_ahead_kb(Some("8192\n")), 8 << 20);
        assert_eq!(window_from_read_ahead_kb(Some("512")), 512 << 10);
        assert_eq!(window_from_read_ahead_kb(Some("128")), MIN_WINDOW);
        assert_eq!(window_from_read_ahead_kb(Some("0")), MIN_WINDOW);
        assert_eq!(window_from_read_ahead_kb(Some("65536")), MAX_WINDOW);
        assert_eq!(window_from_read_ahead_kb(Some("lots")), MIN_WINDOW);
        assert_eq!(window_from_read_ahead_kb(None), MIN_WINDOW);
    }
}
