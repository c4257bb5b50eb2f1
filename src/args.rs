//! Part of the `wshub` binary, not the library: its command line. lexopt
//! only splits the arguments; the flags, their checks, their defaults and
//! the help are written out here (clap cost about 10 s of a cold release
//! build and ~340 KB of the binary). Each flag is one line of `FLAGS`:
//! the help is printed from it and its default is read through the same
//! checks as a value given on the command line, so neither can drift.

use std::ffi::OsString;
use std::fmt::{Display, Write as _};
use std::num::{IntErrorKind, ParseIntError};
use std::str::FromStr;
use std::time::Duration;

use lexopt::Arg::{self, Long, Short, Value};

/// What the command line asks for.
pub(crate) enum Command {
    Serve(Box<Args>),
    /// `wshub accept KEY`.
    Accept(String),
    /// `--help` or `--version`: this text on stdout, then exit 0.
    Print(String),
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) enum Mode {
    #[default]
    Chat,
    Echo,
    Broadcast,
}

impl Mode {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Chat => "chat",
            Mode::Echo => "echo",
            Mode::Broadcast => "broadcast",
        }
    }
}

/// The flags' values. `Default` only gives something to overwrite: every
/// flag with a default in `FLAGS` is set from it.
#[derive(Debug, Default)]
pub(crate) struct Args {
    pub(crate) addr: String,
    pub(crate) mode: Mode,
    pub(crate) www: Option<String>,
    pub(crate) ws_path: String,
    pub(crate) protocols: Vec<String>,
    /// `None`: the mode's own (64K in chat, 1M otherwise).
    pub(crate) max_message: Option<usize>,
    pub(crate) max_connections: usize,
    pub(crate) queue: usize,
    pub(crate) queue_bytes: usize,
    pub(crate) memory: usize,
    pub(crate) read_buffer: usize,
    pub(crate) ping_interval: Duration,
    pub(crate) head_timeout: Duration,
    pub(crate) max_head: usize,
    pub(crate) rate: f64,
    pub(crate) burst: u32,
    pub(crate) history: usize,
    pub(crate) history_bytes: usize,
    pub(crate) max_rooms: u32,
    pub(crate) explain: bool,
    pub(crate) metrics: bool,
    pub(crate) allow_origins: Vec<String>,
    /// Both or neither: `parse` refuses one without the other.
    pub(crate) tls_cert: Option<String>,
    pub(crate) tls_key: Option<String>,
    #[cfg(feature = "redis")]
    pub(crate) redis: Option<String>,
}

/// One `--name`, as `--help` shows it and `parse` reads it.
struct Flag {
    name: &'static str,
    /// The value's name in the help; `None` for a switch such as `--explain`.
    value: Option<&'static str>,
    default: Option<&'static str>,
    /// May be given more than once, each time adding a value.
    repeatable: bool,
    help: &'static str,
}

impl Flag {
    const fn value(name: &'static str, value: &'static str, help: &'static str) -> Flag {
        Flag {
            name,
            value: Some(value),
            default: None,
            repeatable: false,
            help,
        }
    }

    const fn switch(name: &'static str, help: &'static str) -> Flag {
        Flag {
            value: None,
            ..Flag::value(name, "", help)
        }
    }

    const fn default_value(self, default: &'static str) -> Flag {
        Flag {
            default: Some(default),
            ..self
        }
    }

    const fn repeatable(self) -> Flag {
        Flag {
            repeatable: true,
            ..self
        }
    }
}

/// In the order `--help` lists them. A default that is not one value
/// (`--www`, `--max-message`) is said in the help text instead.
#[rustfmt::skip]
const FLAGS: &[Flag] = &[
    Flag::value("addr", "HOST:PORT", "Address to listen on (port 0 picks a free one)").default_value("127.0.0.1:8080"),
    Flag::value("mode", "MODE", "chat: named users, JSON messages to all; echo: every message back; broadcast: relay each message to all others [possible values: chat, echo, broadcast]").default_value("chat"),
    Flag::value("www", "DIR", "Serve the page in this directory, as its author wrote it (no Content-Security-Policy added) [default: the built-in page]"),
    Flag::value("ws-path", "PATH", "Path of the WebSocket endpoint").default_value("/ws"),
    Flag::value("protocol", "NAME", "Accept clients that ask for this subprotocol (repeatable; a client gets the first it offers that is listed)").repeatable(),
    Flag::value("max-message", "BYTES", "Largest message accepted; bigger ones close with 1009 [default: 64K in chat, 1M otherwise]"),
    Flag::value("max-connections", "N", "Most connections at once; more get 503").default_value("4096"),
    Flag::value("queue", "MESSAGES", "Messages that may wait for one client before it is closed with 1008 (too slow)").default_value("1024"),
    Flag::value("queue-bytes", "BYTES", "Bytes that may wait for one client; over it, a client that takes nothing for 2 s is closed with 1008").default_value("1M"),
    Flag::value("memory", "BYTES", "Memory budget for message data (large messages being read, everything queued to send); a large message that finds no room for 5 s is refused with 1013").default_value("64M"),
    Flag::value("read-buffer", "BYTES", "Read buffer allocated per connection; also the most read per system call").default_value("1K"),
    Flag::value("ping-interval", "SECONDS", "Keepalive round: ping clients silent since the last round; close those silent since their ping").default_value("30"),
    Flag::value("head-timeout", "SECONDS", "Time allowed for the HTTP request head").default_value("10"),
    Flag::value("max-head", "BYTES", "Largest HTTP request head; bigger ones get 431").default_value("16K"),
    Flag::value("rate", "PER_SECOND", "Chat: messages a client may send per second on average; over it an error, then close 1008").default_value("10"),
    Flag::value("burst", "MESSAGES", "Chat: messages a client may send at once").default_value("20"),
    Flag::value("history", "MESSAGES", "Chat: messages a room keeps for newcomers (0 keeps none)").default_value("20"),
    Flag::value("history-bytes", "BYTES", "Chat: bytes of history a room keeps at most").default_value("64K"),
    Flag::value("max-rooms", "N", "Rooms (chat, besides the lobby) or named topics (broadcast) at once; a client naming one more is refused").default_value("100"),
    Flag::switch("explain", "Print every handshake and frame, explained step by step, and offer each page its own wire view (for teaching RFC 6455)"),
    Flag::switch("metrics", "Serve GET /metrics in the Prometheus text format (off by default: anyone who can reach the port can read it)"),
    Flag::value("allow-origin", "URL", "Also accept WebSocket requests from pages at this origin (repeatable; '*' turns the check off)").repeatable(),
];

/// Only in a build with TLS; in one without, they are unknown flags.
#[rustfmt::skip]
const TLS_FLAGS: &[Flag] = &[
    Flag::value("tls-cert", "FILE", "Serve https:// and wss:// on the same port, with this certificate chain (PEM)"),
    Flag::value("tls-key", "FILE", "The private key of --tls-cert (PEM)"),
];

/// Only in a build with Redis.
#[rustfmt::skip]
const REDIS_FLAGS: &[Flag] = &[
    Flag::value("redis", "URL", "Share topics, chat rooms, names and history with every other wshub on this Redis: redis://HOST:PORT or redis://HOST:PORT/DB"),
];

fn flags() -> impl Iterator<Item = &'static Flag> {
    let tls: &[Flag] = if cfg!(feature = "tls") {
        TLS_FLAGS
    } else {
        &[]
    };
    let redis: &[Flag] = if cfg!(feature = "redis") {
        REDIS_FLAGS
    } else {
        &[]
    };
    FLAGS.iter().chain(tls).chain(redis)
}

/// Checks `value` and stores it; the error says what `--name` expects,
/// without the flag's name.
fn set(args: &mut Args, name: &str, value: String) -> Result<(), String> {
    match name {
        "addr" => args.addr = value,
        "mode" => {
            args.mode = match value.as_str() {
                "chat" => Mode::Chat,
                "echo" => Mode::Echo,
                "broadcast" => Mode::Broadcast,
                _ => return Err(format!("expects chat, echo or broadcast, got '{value}'")),
            }
        }
        "www" => args.www = Some(value),
        "ws-path" => args.ws_path = value,
        "protocol" => args.protocols.push(value),
        "max-message" => args.max_message = Some(size(&value)?),
        "max-connections" => args.max_connections = whole(&value, 0)?,
        "queue" => args.queue = whole(&value, 0)?,
        "queue-bytes" => args.queue_bytes = size(&value)?,
        "memory" => args.memory = size(&value)?,
        "read-buffer" => args.read_buffer = size(&value)?,
        "ping-interval" => args.ping_interval = Duration::from_secs(whole(&value, 1)?),
        "head-timeout" => args.head_timeout = Duration::from_secs(whole(&value, 1)?),
        "max-head" => args.max_head = size(&value)?,
        // As clap read it: any f64; the chat treats below 0 as 0.
        "rate" => {
            args.rate = value
                .parse()
                .map_err(|_| format!("expects a number such as 10 or 0.5, got '{value}'"))?
        }
        "burst" => args.burst = whole(&value, 1)?,
        "history" => args.history = whole(&value, 0)?,
        "history-bytes" => args.history_bytes = size(&value)?,
        "max-rooms" => args.max_rooms = whole(&value, 0)?,
        "explain" => args.explain = true,
        "metrics" => args.metrics = true,
        "allow-origin" => args.allow_origins.push(value),
        "tls-cert" => args.tls_cert = Some(value),
        "tls-key" => args.tls_key = Some(value),
        #[cfg(feature = "redis")]
        "redis" => args.redis = Some(value),
        _ => unreachable!("--{name} is in FLAGS but not in set()"),
    }
    Ok(())
}

/// Reads the arguments after the program's name. The error is one line
/// that says what is wrong; the caller adds where to look.
pub(crate) fn parse<I>(argv: I) -> Result<Command, String>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let mut parser = lexopt::Parser::from_args(argv);
    let mut args = Args::default();
    let mut given: Vec<&'static str> = Vec::new();
    while let Some(arg) = parser.next().map_err(usage)? {
        let flag = match arg {
            Short('h') | Long("help") => return Ok(Command::Print(help())),
            Short('V') | Long("version") => {
                return Ok(Command::Print(format!(
                    "wshub {}\n",
                    env!("CARGO_PKG_VERSION")
                )));
            }
            Long(name) => match flags().find(|f| f.name == name) {
                Some(flag) => flag,
                None => return Err(unexpected(arg)),
            },
            Value(ref word) if word == "accept" => return accept(&mut parser),
            Value(ref word) if word == "help" => return help_command(&mut parser),
            _ => return Err(unexpected(arg)),
        };
        if given.contains(&flag.name) && !flag.repeatable {
            return Err(format!("--{} was given twice", flag.name));
        }
        given.push(flag.name);
        let value = match flag.value {
            None => String::new(),
            Some(what) => parser
                .value()
                .map_err(|_| format!("--{} needs a value: --{0} <{what}>", flag.name))?
                .into_string()
                .map_err(|v| format!("--{} expects UTF-8, got {v:?}", flag.name))?,
        };
        set(&mut args, flag.name, value).map_err(|e| format!("--{} {e}", flag.name))?;
    }
    for flag in flags().filter(|f| !given.contains(&f.name)) {
        if let Some(default) = flag.default {
            set(&mut args, flag.name, default.to_string())
                .unwrap_or_else(|e| panic!("the default of --{} {e}", flag.name));
        }
    }
    match (&args.tls_cert, &args.tls_key) {
        (Some(_), None) => Err("--tls-cert needs --tls-key, the certificate's private key".into()),
        (None, Some(_)) => {
            Err("--tls-key needs --tls-cert, the certificate it is the key of".into())
        }
        _ => Ok(Command::Serve(Box::new(args))),
    }
}

/// `wshub accept KEY` (options before `accept` are read and ignored, as
/// clap did).
fn accept(parser: &mut lexopt::Parser) -> Result<Command, String> {
    let mut key = None;
    while let Some(arg) = parser.next().map_err(usage)? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Print(ACCEPT_HELP.into())),
            Value(word) if key.is_none() => {
                key = Some(
                    word.into_string()
                        .map_err(|w| format!("not a key: {w:?}"))?,
                );
            }
            _ => return Err(unexpected(arg)),
        }
    }
    key.map(Command::Accept)
        .ok_or_else(|| "accept needs a KEY, the client's Sec-WebSocket-Key".into())
}

/// `wshub help` and `wshub help accept`.
fn help_command(parser: &mut lexopt::Parser) -> Result<Command, String> {
    match parser.next().map_err(usage)? {
        None => Ok(Command::Print(help())),
        Some(Value(word)) if word == "accept" => Ok(Command::Print(ACCEPT_HELP.into())),
        Some(arg) => Err(unexpected(arg)),
    }
}

fn unexpected(arg: Arg) -> String {
    let what = match arg {
        Short(c) => format!("-{c}"),
        Long(name) => format!("--{name}"),
        Value(word) => word.to_string_lossy().into_owned(),
    };
    format!("unexpected argument '{what}'")
}

/// lexopt's own errors: `--explain=yes` is the one a user meets.
fn usage(e: lexopt::Error) -> String {
    match e {
        lexopt::Error::UnexpectedValue { option, value } => {
            format!("{option} takes no value, got '{}'", value.to_string_lossy())
        }
        other => other.to_string(),
    }
}

/// A whole number of at least `least`.
fn whole<T>(s: &str, least: T) -> Result<T, String>
where
    T: FromStr<Err = ParseIntError> + PartialOrd + Display + From<u8>,
{
    let expects = if least > T::from(0) {
        format!("expects a whole number of at least {least}")
    } else {
        "expects a whole number".to_string()
    };
    match s.parse::<T>() {
        Ok(n) if n >= least => Ok(n),
        Err(e) if *e.kind() == IntErrorKind::PosOverflow => {
            Err(format!("{expects}, got '{s}', which is too large"))
        }
        _ => Err(format!("{expects}, got '{s}'")),
    }
}

/// Parses `4096`, `4K`, `16M` (binary multiples).
fn size(s: &str) -> Result<usize, String> {
    let (digits, mult) = match s.to_ascii_uppercase().strip_suffix(['K', 'M', 'G']) {
        Some(d) => {
            let m = match s.chars().last().map(|c| c.to_ascii_uppercase()) {
                Some('K') => 1 << 10,
                Some('M') => 1 << 20,
                _ => 1 << 30,
            };
            (d.to_string(), m)
        }
        None => (s.to_string(), 1),
    };
    digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("expects a size such as 4096, 64K or 16M, got '{s}'"))
}

const HELP_HEAD: &str = "\
A small WebSocket server: one port serves a chat page and the WebSocket endpoint.

Usage: wshub [OPTIONS] [COMMAND]

Commands:
  accept  Show how a Sec-WebSocket-Key becomes its Sec-WebSocket-Accept, step by step
  help    Print this message or the help of the given subcommand(s)

Options:
";

const ACCEPT_HELP: &str = "\
Show how a Sec-WebSocket-Key becomes its Sec-WebSocket-Accept, step by step

Usage: wshub accept <KEY>

Arguments:
  <KEY>  The client's Sec-WebSocket-Key, e.g. dGhlIHNhbXBsZSBub25jZQ==

Options:
  -h, --help  Print help
";

/// The help, laid out as clap laid it out: one line per flag, the
/// explanations in one column.
fn help() -> String {
    let label = |f: &Flag| match f.value {
        Some(value) => format!("--{} <{value}>", f.name),
        None => format!("--{}", f.name),
    };
    let width = flags().map(|f| label(f).len()).max().unwrap_or(0);
    let mut out = HELP_HEAD.to_string();
    for f in flags() {
        let default = f.default.map(|d| format!(" [default: {d}]"));
        let default = default.unwrap_or_default();
        let _ = writeln!(out, "      {:width$}  {}{default}", label(f), f.help);
    }
    // The short forms take the 4 columns the long-only flags leave blank.
    let _ = writeln!(out, "  {:w$}  Print help", "-h, --help", w = width + 4);
    let _ = writeln!(
        out,
        "  {:w$}  Print version",
        "-V, --version",
        w = width + 4
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(argv: &[&str]) -> Args {
        match parse(argv) {
            Ok(Command::Serve(args)) => *args,
            Ok(_) => panic!("{argv:?} is not a serve command"),
            Err(e) => panic!("{argv:?}: {e}"),
        }
    }

    fn error(argv: &[&str]) -> String {
        match parse(argv) {
            Err(e) => e,
            Ok(_) => panic!("{argv:?} was accepted"),
        }
    }

    #[test]
    fn the_defaults_are_what_the_help_says() {
        let a = serve(&[]);
        assert_eq!(a.addr, "127.0.0.1:8080");
        assert_eq!(a.mode, Mode::Chat);
        assert_eq!((a.www, a.max_message), (None, None));
        assert_eq!(a.ws_path, "/ws");
        assert_eq!((a.max_connections, a.queue), (4096, 1024));
        assert_eq!((a.queue_bytes, a.memory), (1 << 20, 64 << 20));
        assert_eq!((a.read_buffer, a.max_head), (1 << 10, 16 << 10));
        assert_eq!(a.ping_interval, Duration::from_secs(30));
        assert_eq!(a.head_timeout, Duration::from_secs(10));
        assert_eq!((a.rate, a.burst), (10.0, 20));
        assert_eq!(
            (a.history, a.history_bytes, a.max_rooms),
            (20, 64 << 10, 100)
        );
        assert!(!a.explain && !a.metrics);
        assert!(a.protocols.is_empty() && a.allow_origins.is_empty());
        assert_eq!((a.tls_cert, a.tls_key), (None, None));
    }

    #[test]
    fn every_flag_is_read_and_listed_in_the_help() {
        let help = help();
        for f in flags() {
            assert!(help.contains(&format!("--{} ", f.name)), "--{}", f.name);
            let value = f.default.unwrap_or("1M");
            let argv = match f.value {
                Some(_) => vec![format!("--{}", f.name), value.to_string()],
                None => vec![format!("--{}", f.name)],
            };
            // Reaching set() is the point: a flag it lacks panics there.
            let _ = parse(argv);
        }
    }

    #[test]
    fn values_both_ways_and_repeated() {
        let a = serve(&[
            "--mode=echo",
            "--max-message",
            "4k",
            "--protocol",
            "a",
            "--protocol=b",
            "--ping-interval",
            "1",
            "--explain",
        ]);
        assert_eq!(a.mode, Mode::Echo);
        assert_eq!(a.max_message, Some(4096));
        assert_eq!(a.protocols, ["a", "b"]);
        assert_eq!(a.ping_interval, Duration::from_secs(1));
        assert!(a.explain);
    }

    #[test]
    fn bad_usage_says_what_was_wrong() {
        for (argv, says) in [
            (
                &["--queue", "x"][..],
                "--queue expects a whole number, got 'x'",
            ),
            (
                &["--ping-interval", "0"],
                "--ping-interval expects a whole number of at least 1, got '0'",
            ),
            (
                &["--burst", "-3"],
                "--burst expects a whole number of at least 1, got '-3'",
            ),
            (
                &["--max-rooms", "5000000000"],
                "--max-rooms expects a whole number, got '5000000000', which is too large",
            ),
            (
                &["--memory", "0"],
                "--memory expects a size such as 4096, 64K or 16M, got '0'",
            ),
            (
                &["--mode", "karaoke"],
                "--mode expects chat, echo or broadcast, got 'karaoke'",
            ),
            (
                &["--rate", "fast"],
                "--rate expects a number such as 10 or 0.5, got 'fast'",
            ),
            (&["--addr"], "--addr needs a value: --addr <HOST:PORT>"),
            (&["--addr", "a", "--addr", "b"], "--addr was given twice"),
            (&["--explain=yes"], "--explain takes no value, got 'yes'"),
            (&["--bogus"], "unexpected argument '--bogus'"),
            (&["-x"], "unexpected argument '-x'"),
            (&["extra"], "unexpected argument 'extra'"),
            (
                &["accept"],
                "accept needs a KEY, the client's Sec-WebSocket-Key",
            ),
            (&["accept", "a", "b"], "unexpected argument 'b'"),
        ] {
            assert_eq!(error(argv), says, "{argv:?}");
        }
    }

    #[cfg(feature = "tls")]
    #[test]
    fn a_certificate_needs_its_key() {
        assert!(error(&["--tls-cert", "c.pem"]).starts_with("--tls-cert needs --tls-key"));
        assert!(error(&["--tls-key", "k.pem"]).starts_with("--tls-key needs --tls-cert"));
        let a = serve(&["--tls-cert", "c.pem", "--tls-key", "k.pem"]);
        assert_eq!(
            (a.tls_cert.unwrap(), a.tls_key.unwrap()),
            ("c.pem".into(), "k.pem".into())
        );
    }

    #[test]
    fn accept_help_and_version() {
        assert!(matches!(parse(["accept", "k"]), Ok(Command::Accept(k)) if k == "k"));
        assert!(matches!(
            parse(["--mode", "echo", "accept", "k"]),
            Ok(Command::Accept(_))
        ));
        for argv in [
            &["--help"][..],
            &["-h"],
            &["help"],
            &["--queue", "1", "--help"],
        ] {
            assert!(
                matches!(parse(argv), Ok(Command::Print(h)) if h == help()),
                "{argv:?}"
            );
        }
        for argv in [&["accept", "--help"][..], &["help", "accept"]] {
            assert!(
                matches!(parse(argv), Ok(Command::Print(h)) if h == ACCEPT_HELP),
                "{argv:?}"
            );
        }
        assert!(matches!(parse(["-V"]), Ok(Command::Print(v)) if v.starts_with("wshub ")));
    }
}
