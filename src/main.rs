//! The `wshub` command: the library's server with one of its three modes,
//! the page built into the binary (or a directory given with `--www`),
//! logging, and graceful shutdown on SIGINT/SIGTERM.

#![forbid(unsafe_code)]

mod args;
mod lan;

use std::process::ExitCode;

use args::{Args, Command, Mode};
use log::{info, warn};
use wshub::{Server, modes};

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

fn configure(args: &Args) -> Server {
    // Chat lines are short; 1 MiB elsewhere, as Python's websockets has,
    // holds a photo or a data blob while the 64 MiB budget still holds
    // dozens of such messages at once.
    let default_max = if args.mode == Mode::Chat {
        64 << 10
    } else {
        1 << 20
    };
    let mut server = Server::new(&args.addr)
        .ws_path(&args.ws_path)
        .max_message_size(args.max_message.unwrap_or(default_max))
        .max_connections(args.max_connections)
        .queue_size(args.queue)
        .queue_bytes(args.queue_bytes)
        .memory_budget(args.memory)
        .read_buffer_size(args.read_buffer)
        .ping_interval(args.ping_interval)
        .head_timeout(args.head_timeout)
        .max_head_size(args.max_head)
        .explain(args.explain)
        .metrics(args.metrics)
        .protocols(&args.protocols);
    // The built-in page unless a directory is given: a copied or installed
    // binary has no www/ beside it.
    server = match &args.www {
        Some(dir) => server.www(Some(dir)),
        None => server.embedded_page(),
    };
    for origin in &args.allow_origins {
        if origin == "*" {
            warn!("--allow-origin '*': any web page may open a WebSocket here as its visitor");
        }
        server = server.allow_origin(origin);
    }
    #[cfg(feature = "tls")]
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        server = server.tls(cert, key);
    }
    #[cfg(feature = "redis")]
    if let Some(address) = &args.redis {
        server = server.redis(address);
    }
    server
}

fn main() -> ExitCode {
    let args = match args::parse(std::env::args_os().skip(1)) {
        Ok(Command::Serve(args)) => args,
        Ok(Command::Accept(key)) => {
            print!("{}", wshub::accept_steps("", &wshub::Accept::compute(&key)));
            return ExitCode::SUCCESS;
        }
        Ok(Command::Print(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(what) => {
            // 2, as clap exited on bad usage: scripts may tell it apart
            // from a server that could not start (1).
            eprintln!("wshub: {what} (see wshub --help)");
            return ExitCode::from(2);
        }
    };
    wshub::tune_allocator();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    raise_fd_limit();

    let mode = args.mode.name();
    let server = configure(&args);
    let max_rooms = args.max_rooms as usize;
    let started = match args.mode {
        Mode::Echo => server.start(modes::Echo),
        Mode::Broadcast => server.start(modes::Relay::with_max_topics(max_rooms)),
        Mode::Chat => {
            let chat = modes::Chat::with_rate_limit(args.rate, args.burst)
                .history(args.history, args.history_bytes)
                .max_rooms(max_rooms);
            server.start(chat)
        }
    };
    let ws_path = &args.ws_path;
    let running = match started {
        Ok(r) => r,
        Err(e) => {
            eprintln!("wshub: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = running.local_addr();
    let (http, ws) = if args.tls_cert.is_some() {
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
