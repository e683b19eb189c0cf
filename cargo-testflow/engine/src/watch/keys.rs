//! `q` (quit) and `r` (rerun everything) on stdin. On a terminal each key counts at once:
//! the terminal is put in non-canonical mode without echo (Ctrl-C still sends SIGINT) and
//! restored when watching ends, or by [`restore_terminal`] on a forced exit. Otherwise
//! (a pipe, a file) stdin is read by lines: `q` or `r` alone on a line. The end of stdin
//! changes nothing: watching goes on until `q` or a signal.

use std::io::{BufRead, Read};
use std::sync::Mutex;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    Quit,
    RerunAll,
}

/// A key pressed on a terminal.
pub fn key_of_byte(b: u8) -> Option<Key> {
    match b {
        b'q' | b'Q' => Some(Key::Quit),
        b'r' | b'R' => Some(Key::RerunAll),
        _ => None,
    }
}

/// A line read from a pipe.
pub fn key_of_line(line: &str) -> Option<Key> {
    match line.trim() {
        "q" | "Q" | "quit" => Some(Key::Quit),
        "r" | "R" => Some(Key::RerunAll),
        _ => None,
    }
}

/// The terminal's settings before watching changed them.
static SAVED: Mutex<Option<libc::termios>> = Mutex::new(None);

/// Restores the terminal when dropped.
pub struct TerminalGuard(());

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Put the terminal's settings back, if watching changed them.
pub fn restore_terminal() {
    let saved = SAVED.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(t) = saved {
        // SAFETY: tcsetattr with settings tcgetattr gave for the same descriptor.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &t);
        }
    }
}

/// Read keys on a thread and hand each to `send` (which answers false once nobody listens).
pub fn listen(send: impl Fn(Key) -> bool + Send + 'static) -> TerminalGuard {
    let by_key = single_keys();
    let _ = std::thread::Builder::new()
        .name("testflow-watch-keys".into())
        .spawn(move || {
            if by_key {
                let mut byte = [0u8];
                let mut stdin = std::io::stdin().lock();
                while let Ok(1) = stdin.read(&mut byte) {
                    if let Some(k) = key_of_byte(byte[0])
                        && !send(k)
                    {
                        return;
                    }
                }
            } else {
                for line in std::io::stdin().lock().lines() {
                    let Ok(line) = line else { return };
                    if let Some(k) = key_of_line(&line)
                        && !send(k)
                    {
                        return;
                    }
                }
            }
        });
    TerminalGuard(())
}

/// On a terminal: keys without Enter and without echo. False when stdin is no terminal,
/// we run in the background, or its settings cannot be changed: read lines then.
fn single_keys() -> bool {
    // SAFETY: isatty, tcgetattr and tcsetattr on stdin with a termios they fill or read.
    unsafe {
        // Only in the foreground: changing the terminal from the background stops us (SIGTTOU).
        if libc::isatty(libc::STDIN_FILENO) != 1
            || libc::tcgetpgrp(libc::STDIN_FILENO) != libc::getpgrp()
        {
            return false;
        }
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(libc::STDIN_FILENO, &mut t) != 0 {
            return false;
        }
        let saved = t;
        t.c_lflag &= !(libc::ICANON | libc::ECHO);
        t.c_cc[libc::VMIN] = 1;
        t.c_cc[libc::VTIME] = 0;
        if libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &t) != 0 {
            return false;
        }
        *SAVED.lock().unwrap_or_else(|e| e.into_inner()) = Some(saved);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_lines() {
        assert_eq!(key_of_byte(b'q'), Some(Key::Quit));
        assert_eq!(key_of_byte(b'R'), Some(Key::RerunAll));
        assert_eq!(key_of_byte(b'\n'), None);
        assert_eq!(key_of_line("q\n"), Some(Key::Quit));
        assert_eq!(key_of_line("  r "), Some(Key::RerunAll));
        assert_eq!(key_of_line("quit"), Some(Key::Quit));
        assert_eq!(key_of_line("query"), None, "only q alone quits");
        assert_eq!(key_of_line(""), None);
    }
}
