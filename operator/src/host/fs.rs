//! Files the agent and the process backend keep: replaced atomically, removed whether or
//! not they exist, read from their end.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Writes `bytes` to a sibling temporary file, syncs it and renames it over `path`, so a
/// reader never sees half a file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temporary = path.with_extension("json.tmp");
    let mut file = File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&temporary, path)
}

/// Removes a file, or a directory with everything in it; a path that is already gone is
/// fine.
pub fn remove_path(path: &Path) -> io::Result<()> {
    let result = if path.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    match result {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// The last `max_bytes` of a file as text; an absent file reads as empty.
pub fn read_tail(path: &Path, max_bytes: u64) -> io::Result<String> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(String::new()),
        Err(error) => return Err(error),
    };
    let length = file.metadata()?.len();
    file.seek(SeekFrom::Start(length.saturating_sub(max_bytes)))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_directories_are_removed_once_and_then_absent_is_fine() {
        let temp = tempfile::tempdir().unwrap();
        let file = temp.path().join("state.json");
        write_atomically(&file, b"{}").unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "{}");
        let dir = temp.path().join("data/node-0");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("wal"), b"vectors").unwrap();
        for path in [&file, &dir] {
            remove_path(path).unwrap();
            assert!(!path.exists());
            remove_path(path).unwrap();
        }
    }

    #[test]
    fn the_tail_is_the_end_of_the_file() {
        let temp = tempfile::tempdir().unwrap();
        let log = temp.path().join("node.log");
        assert_eq!(read_tail(&log, 4).unwrap(), "");
        fs::write(&log, "abcdef").unwrap();
        assert_eq!(read_tail(&log, 4).unwrap(), "cdef");
        assert_eq!(read_tail(&log, 100).unwrap(), "abcdef");
    }
}
