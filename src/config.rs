//! Every setting the server has, with its default.

use std::time::Duration;

use crate::page::Page;

/// Which browser origins may open a WebSocket.
#[derive(Clone, Debug, Default)]
pub(crate) struct Origins {
    /// `*`: no check at all.
    pub any: bool,
    /// Origins allowed besides the server's own, e.g. `https://example.org`.
    pub allowed: Vec<String>,
}

impl Origins {
    /// The default rule: an origin is allowed if it names the host the
    /// request was sent to (the page came from this server), or if it is
    /// on the list.
    pub(crate) fn allows(&self, origin: &str, host: Option<&str>) -> bool {
        if self.any {
            return true;
        }
        let origin = origin.trim_end_matches('/');
        if self
            .allowed
            .iter()
            .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
        {
            return true;
        }
        let origin_host = origin.split_once("://").map_or("", |(_, h)| h);
        host.is_some_and(|h| !h.is_empty() && h.eq_ignore_ascii_case(origin_host))
    }
}

/// The settings; built through [`Server`](crate::Server)'s methods.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub addr: String,
    pub ws_path: String,
    pub www: Option<Page>,
    pub max_message_size: usize,
    pub max_connections: usize,
    pub queue_size: usize,
    pub queue_bytes: usize,
    pub memory_budget: usize,
    pub memory_wait: Duration,
    pub read_buffer_size: usize,
    pub ping_interval: Duration,
    pub head_timeout: Duration,
    pub max_head_size: usize,
    pub write_timeout: Duration,
    pub close_timeout: Duration,
    pub origins: Origins,
    /// Subprotocols to accept when the handler picks none.
    pub protocols: Vec<String>,
    pub stack_size: usize,
    pub explain: bool,
    /// Serve `GET /metrics`.
    pub metrics: bool,
    #[cfg(feature = "tls")]
    pub tls: Option<crate::tls::TlsConfig>,
    /// `redis://HOST:PORT[/DB]`: share topics with the other nodes there.
    #[cfg(feature = "redis")]
    pub redis: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: "127.0.0.1:8080".into(),
            ws_path: "/ws".into(),
            www: None,
            max_message_size: 1 << 20,
            max_connections: 4096,
            queue_size: 1024,
            queue_bytes: 1 << 20,
            // Sized for a small machine: a Raspberry Pi with 1 GiB keeps
            // most of its memory whatever clients do.
            memory_budget: 64 << 20,
            memory_wait: Duration::from_secs(5),
            // tungstenite allocates its read buffer up front for every
            // connection (128 KiB by default), and zero-fills it, so every
            // byte is resident. Chat and push messages fit in 1 KiB; a
            // larger message is still read whole (the buffer grows to fit
            // it), 1 KiB per read call. Measured on 1,000 idle connections:
            // 20.4 KiB each with 4 KiB, 18.3 with 2 KiB, 16.3 with 1 KiB.
            read_buffer_size: 1024,
            ping_interval: Duration::from_secs(30),
            head_timeout: Duration::from_secs(10),
            max_head_size: 16 * 1024,
            write_timeout: Duration::from_secs(30),
            close_timeout: Duration::from_secs(5),
            origins: Origins::default(),
            protocols: Vec::new(),
            // Measured: the test suite (echo, chat, a handler that panics,
            // the deepest path) passes on 48 KiB stacks in a debug build and
            // overflows at 32 KiB. 128 KiB leaves user handlers headroom;
            // only the pages a thread touches count towards memory.
            stack_size: 128 * 1024,
            explain: false,
            metrics: false,
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "redis")]
            redis: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_host_origin_is_allowed() {
        let o = Origins::default();
        assert!(o.allows("http://127.0.0.1:8080", Some("127.0.0.1:8080")));
        assert!(!o.allows("http://evil.example", Some("127.0.0.1:8080")));
        assert!(!o.allows("http://evil.example", None));
        let o = Origins {
            any: false,
            allowed: vec!["https://ok.example".into()],
        };
        assert!(o.allows("https://ok.example", Some("127.0.0.1:8080")));
    }
}
