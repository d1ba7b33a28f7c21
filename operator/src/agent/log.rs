//! The agent's log: one timestamped line per event on stdout, which is the terminal in the
//! foreground and `logs/agent.log` for a detached supervisor.

use chrono::Utc;

/// Writes `message` as a line of the agent's log.
pub fn log_line(message: &str) {
    println!("{} {message}", Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ"));
}
