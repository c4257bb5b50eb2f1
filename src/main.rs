//! The `wshub` command: the library's server with one of its three modes,
//! the page built into the binary (or a directory given with `--www`),
//! logging, and graceful shutdown on SIGINT/SIGTERM.

#![forbid(unsafe_code)]

mod lan;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches, Command, value_parser};
use log::{info, warn};
use wshub::{Server, modes};

fn cli() -> Command {
    Command::new("wshub")
        .version(env!("CARGO_PKG_VERSION"))
        .about("A small WebSocket server: one port serves a chat page and the WebSocket endpoint.")
        .arg(Arg::new("addr").long("addr").value_name("HOST:PORT").default_value("127.0.0.1:8080")
            .help("Address to listen on (port 0 picks a free one)"))
        .arg(Arg::new("mode").long("mode").value_name("MODE").default_value("chat")
            .value_parser(["chat", "echo", "broadcast"])
            .help("chat: named users, JSON messages to all; echo: every message back; broadcast: relay each message to all others"))
        .arg(Arg::new("www").long("www").value_name("DIR")
            .help("Serve the page in this directory, as its author wrote it (no Content-Security-Policy added) [default: the built-in page]"))
        .arg(Arg::new("ws-path").long("ws-path").value_name("PATH").default_value("/ws")
            .help("Path of the WebSocket endpoint"))
        .arg(Arg::new("protocol").long("protocol").value_name("NAME").action(ArgAction::Append)
            .help("Accept clients that ask for this subprotocol (repeatable; a client gets the first it offers that is listed)"))
        .arg(Arg::new("max-message").long("max-message").value_name("BYTES").value_parser(size)
            .help("Largest message accepted; bigger ones close with 1009 [default: 64K in chat, 1M otherwise]"))
        .arg(Arg::new("max-connections").long("max-connections").value_name("N")
            .value_parser(value_parser!(usize)).default_value("4096")
            .help("Most connections at once; more get 503"))
        .arg(Arg::new("queue").long("queue").value_name("MESSAGES")
            .value_parser(value_parser!(usize)).default_value("1024")
            .help("Messages that may wait for one client before it is closed with 1008 (too slow)"))
        .arg(Arg::new("queue-bytes").long("queue-bytes").value_name("BYTES").value_parser(size)
            .default_value("1M")
            .help("Bytes that may wait for one client; over it, a client that takes nothing for 2 s is closed with 1008"))
        .arg(Arg::new("memory").long("memory").value_name("BYTES").value_parser(size)
            .default_value("64M")
            .help("Memory budget for message data (large messages being read, everything queued to send); a large message that finds no room for 5 s is refused with 1013"))
        .arg(Arg::new("read-buffer").long("read-buffer").value_name("BYTES").value_parser(size)
            .default_value("1K").help("Read buffer allocated per connection; also the most read per system call"))
        .arg(Arg::new("ping-interval").long("ping-interval").value_name("SECONDS")
            .value_parser(value_parser!(u64).range(1..)).default_value("30")
            .help("Keepalive round: ping clients silent since the last round; close those silent since their ping"))
        .arg(Arg::new("head-timeout").long("head-timeout").value_name("SECONDS")
            .value_parser(value_parser!(u64).range(1..)).default_value("10")
            .help("Time allowed for the HTTP request head"))
        .arg(Arg::new("max-head").long("max-head").value_name("BYTES").value_parser(size)
            .default_value("16K").help("Largest HTTP request head; bigger ones get 431"))
        .arg(Arg::new("rate").long("rate").value_name("PER_SECOND")
            .value_parser(value_parser!(f64)).default_value("10")
            .help("Chat: messages a client may send per second on average; over it an error, then close 1008"))
        .arg(Arg::new("burst").long("burst").value_name("MESSAGES")
            .value_parser(value_parser!(u32).range(1..)).default_value("20")
            .help("Chat: messages a client may send at once"))
        .arg(Arg::new("history").long("history").value_name("MESSAGES")
            .value_parser(value_parser!(usize)).default_value("20")
            .help("Chat: messages a room keeps for newcomers (0 keeps none)"))
        .arg(Arg::new("history-bytes").long("history-bytes").value_name("BYTES").value_parser(size)
            .default_value("64K").help("Chat: bytes of history a room keeps at most"))
        .arg(Arg::new("max-rooms").long("max-rooms").value_name("N")
            .value_parser(value_parser!(u32)).default_value("100")
            .help("Rooms (chat, besides the lobby) or named topics (broadcast) at once; a client naming one more is refused"))
        .arg(Arg::new("explain").long("explain").action(ArgAction::SetTrue)
            .help("Print every handshake and frame, explained step by step (for teaching RFC 6455)"))
        .arg(Arg::new("metrics").long("metrics").action(ArgAction::SetTrue)
            .help("Serve GET /metrics in the Prometheus text format (off by default: anyone who can reach the port can read it)"))
        .subcommand(Command::new("accept")
            .about("Show how a Sec-WebSocket-Key becomes its Sec-WebSocket-Accept, step by step")
            .arg(Arg::new("key").value_name("KEY").required(true)
                .help("The client's Sec-WebSocket-Key, e.g. dGhlIHNhbXBsZSBub25jZQ==")))
        .arg(Arg::new("allow-origin").long("allow-origin").value_name("URL").action(ArgAction::Append)
            .help("Also accept WebSocket requests from pages at this origin (repeatable; '*' turns the check off)"))
        .args(tls_args())
        .args(redis_args())
}

/// `--redis`, in a build with Redis.
fn redis_args() -> Vec<Arg> {
    if !cfg!(feature = "redis") {
        return Vec::new();
    }
    vec![Arg::new("redis").long("redis").value_name("URL").help(
        "Share topics, chat rooms, names and history with every other wshub on this Redis: redis://HOST:PORT or redis://HOST:PORT/DB",
    )]
}

/// `--tls-cert` and `--tls-key`, in a build with TLS.
fn tls_args() -> Vec<Arg> {
    if !cfg!(feature = "tls") {
        return Vec::new();
    }
    vec![
        Arg::new("tls-cert")
            .long("tls-cert")
            .value_name("FILE")
            .requires("tls-key")
            .help("Serve https:// and wss:// on the same port, with this certificate chain (PEM)"),
        Arg::new("tls-key")
            .long("tls-key")
            .value_name("FILE")
            .requires("tls-cert")
            .help("The private key of --tls-cert (PEM)"),
    ]
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
        .ok_or_else(|| format!("'{s}' is not a size such as 4096, 64K or 16M"))
}

/// Lets the process hold as many sockets as the system allows: the soft
/// descriptor limit is often 1024, far below what wshub can serve.
fn raise_fd_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut lim = getrlimit(Resource::Nofile);
    // `None` is unlimited.
    let below_max = match (lim.current, lim.maximum) {
        (Some(cur), Some(max)) => cur < max,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if below_max {
        lim.current = lim.maximum;
        let _ = setrlimit(Resource::Nofile, lim);
    }
}

fn configure(m: &ArgMatches) -> Server {
    let mode = m.get_one::<String>("mode").map(String::as_str);
    // Chat lines are short; 1 MiB elsewhere, as Python's websockets has,
    // holds a photo or a data blob while the 64 MiB budget still holds
    // dozens of such messages at once.
    let default_max = if mode == Some("chat") {
        64 << 10
    } else {
        1 << 20
    };
    let secs = |name: &str| Duration::from_secs(*m.get_one::<u64>(name).expect("has a default"));
    let mut server = Server::new(m.get_one::<String>("addr").expect("has a default"))
        .ws_path(m.get_one::<String>("ws-path").expect("has a default"))
        .max_message_size(
            m.get_one::<usize>("max-message")
                .copied()
                .unwrap_or(default_max),
        )
        .max_connections(
            *m.get_one::<usize>("max-connections")
                .expect("has a default"),
        )
        .queue_size(*m.get_one::<usize>("queue").expect("has a default"))
        .queue_bytes(*m.get_one::<usize>("queue-bytes").expect("has a default"))
        .memory_budget(*m.get_one::<usize>("memory").expect("has a default"))
        .read_buffer_size(*m.get_one::<usize>("read-buffer").expect("has a default"))
        .ping_interval(secs("ping-interval"))
        .head_timeout(secs("head-timeout"))
        .max_head_size(*m.get_one::<usize>("max-head").expect("has a default"))
        .explain(m.get_flag("explain"))
        .metrics(m.get_flag("metrics"));
    server = server.protocols(m.get_many::<String>("protocol").into_iter().flatten());
    // The built-in page unless a directory is given: a copied or installed
    // binary has no www/ beside it.
    server = match m.get_one::<String>("www") {
        Some(dir) => server.www(Some(dir)),
        None => server.embedded_page(),
    };
    for origin in m.get_many::<String>("allow-origin").into_iter().flatten() {
        if origin == "*" {
            warn!("--allow-origin '*': any web page may open a WebSocket here as its visitor");
        }
        server = server.allow_origin(origin);
    }
    #[cfg(feature = "tls")]
    if let (Some(cert), Some(key)) = (
        m.get_one::<String>("tls-cert"),
        m.get_one::<String>("tls-key"),
    ) {
        server = server.tls(cert, key);
    }
    #[cfg(feature = "redis")]
    if let Some(address) = m.get_one::<String>("redis") {
        server = server.redis(address);
    }
    server
}

fn main() -> ExitCode {
    let matches = match cli().try_get_matches() {
        Ok(m) => m,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            // clap's message spans several lines; keep the one that says
            // what is wrong and point at --help.
            let text = e.render().to_string();
            let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
            let first = lines.next().unwrap_or("invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            // "the following required arguments were not provided:" names
            // them on the next line.
            let what = match first.strip_suffix(':') {
                Some(head) => format!("{head}: {}", lines.next().unwrap_or("")),
                None => first.to_string(),
            };
            eprintln!("wshub: {what} (see wshub --help)");
            return ExitCode::from(2);
        }
    };
    if let Some(("accept", sub)) = matches.subcommand() {
        let key = sub.get_one::<String>("key").expect("required");
        print!("{}", wshub::accept_steps("", &wshub::Accept::compute(key)));
        return ExitCode::SUCCESS;
    }
    wshub::tune_allocator();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    raise_fd_limit();

    let mode = matches
        .get_one::<String>("mode")
        .cloned()
        .unwrap_or_default();
    let server = configure(&matches);
    let max_rooms = *matches.get_one::<u32>("max-rooms").expect("has a default") as usize;
    let started = match mode.as_str() {
        "echo" => server.start(modes::Echo),
        "broadcast" => server.start(modes::Relay::with_max_topics(max_rooms)),
        _ => {
            let rate = *matches.get_one::<f64>("rate").expect("has a default");
            let burst = *matches.get_one::<u32>("burst").expect("has a default");
            let history = *matches.get_one::<usize>("history").expect("has a default");
            let bytes = *matches
                .get_one::<usize>("history-bytes")
                .expect("has a default");
            let chat = modes::Chat::with_rate_limit(rate, burst)
                .history(history, bytes)
                .max_rooms(max_rooms);
            server.start(chat)
        }
    };
    let ws_path = matches
        .get_one::<String>("ws-path")
        .cloned()
        .unwrap_or_default();
    let running = match started {
        Ok(r) => r,
        Err(e) => {
            eprintln!("wshub: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = running.local_addr();
    let (http, ws) = if cfg!(feature = "tls") && matches.get_one::<String>("tls-cert").is_some() {
        ("https", "wss")
    } else {
        ("http", "ws")
    };
    println!("wshub listening on {http}://{addr}/ (WebSocket {ws}://{addr}{ws_path}, mode {mode})");
    for url in lan::urls(http, addr, &lan::interfaces()) {
        println!("  from another device: {url}");
    }

    let mut signals = match signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("wshub: cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(sig) = signals.forever().next() {
        info!("signal {sig}: shutting down");
    }
    let closed = running.shutdown();
    info!("closed {closed} client(s); bye");
    ExitCode::SUCCESS
}
