//! What the tests that start pipectl share.

#![allow(dead_code)] // each test binary uses part of this module

use std::process::{Child, Output};

/// A running pipectl, killed when dropped before it was waited for: a failing test must not
/// leave a pipeline running (or a cluster process waiting for its peer forever).
pub struct Running(Option<Child>);

impl Running {
    /// Watches a started process.
    pub fn new(child: Child) -> Self {
        Running(Some(child))
    }

    /// The process, to signal or poll.
    pub fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("not waited for yet")
    }

    /// Waits for the process to exit and collects its output.
    pub fn wait(mut self) -> Output {
        let child = self.0.take().expect("not waited for yet");
        child.wait_with_output().expect("pipectl can be waited for")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub mod kafka;
pub mod stores;

/// Sends `signal` (such as `-INT`) to a process.
pub fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

/// Waits up to `limit` for `ready`, panicking with `what` when it does not come.
pub fn wait_for(limit: std::time::Duration, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !ready() {
        assert!(
            std::time::Instant::now() < deadline,
            "waited {limit:?} for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// A port free now on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
