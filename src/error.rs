//! The library's one error type.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in wshub, with messages meant for a person.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The listening socket could not be opened.
    Bind {
        /// The address asked for.
        addr: String,
        /// What the operating system said.
        source: io::Error,
    },
    /// The `www` directory to serve does not exist or is not a directory.
    WwwMissing(PathBuf),
    /// A setting is out of range; the text says which and why.
    Config(String),
    /// The TLS certificate or key could not be used; the text says which
    /// file and why.
    Tls(String),
    /// The server has stopped; nothing more can be sent.
    Closed,
    /// The server's memory budget cannot take this message now; nothing
    /// was queued. Only messages larger than [`SMALL`](crate::SMALL) get
    /// this: try again later, or close the client with 1013.
    Busy {
        /// The size of the encoded message.
        bytes: usize,
    },
    /// A WebSocket protocol error on one connection.
    WebSocket(tungstenite::Error),
    /// Any other input/output error.
    Io(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Bind { addr, source } if source.kind() == io::ErrorKind::AddrInUse => write!(
                f,
                "cannot listen on {addr}: the address is already in use (is another server running? choose another port with --addr)"
            ),
            Error::Bind { addr, source } if source.kind() == io::ErrorKind::PermissionDenied => {
                write!(
                    f,
                    "cannot listen on {addr}: permission denied (ports below 1024 need privileges; use a port such as 8080)"
                )
            }
            Error::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            Error::WwwMissing(dir) => write!(
                f,
                "the www directory {} does not exist (give --www a folder that holds index.html, or leave --www out to serve the built-in page)",
                dir.display()
            ),
            Error::Config(text) => write!(f, "invalid setting: {text}"),
            Error::Tls(text) => write!(f, "TLS: {text}"),
            Error::Closed => write!(f, "the server has stopped; nothing more can be sent"),
            Error::Busy { bytes } => write!(
                f,
                "the server's memory budget is full: a message of {bytes} bytes cannot be queued now (try again later, or raise the budget with --memory or Server::memory_budget)"
            ),
            Error::WebSocket(e) => write!(f, "WebSocket error: {e}"),
            Error::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Bind { source, .. } => Some(source),
            Error::WebSocket(e) => Some(e),
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

/// The result type of wshub's fallible functions.
pub type Result<T, E = Error> = std::result::Result<T, E>;
