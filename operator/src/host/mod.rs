//! This machine as the local agent and its backends use it: processes by id, loopback
//! ports, files written atomically, and the words and numbers their messages show.
//! Nothing here knows of grids or backends.

mod fs;
mod io_error;
mod pid;
mod port;
mod text;

pub use fs::{read_tail, remove_path, write_atomically};
pub use io_error::IoError;
pub use pid::ProcessId;
pub use port::{loopback, port_is_free};
pub use text::{human_bytes, last_lines};
