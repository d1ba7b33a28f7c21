//! Loopback ports: where local nodes listen, and whether one is taken.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener};

/// `127.0.0.1:<port>`: local nodes serve this machine only.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
}

/// Whether nothing listens on the loopback port, so a node can bind it.
pub fn port_is_free(port: u16) -> bool {
    TcpListener::bind(loopback(port)).is_ok()
}
