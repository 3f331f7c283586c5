//! `baton-trace`: a local stand-in for the X-Ray daemon that prints the traces it receives.

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use baton_sampling::SamplingRules;
use baton_trace::{
    Assembler, Collector, DEFAULT_MAX_TRACES, RuleCounts, Trace, WaterfallOptions,
    render_service_map, render_waterfall_with, write_html,
};

const USAGE: &str = "\
baton-trace: receive spans over OTLP/HTTP like a collector and X-Ray segment documents
like the X-Ray daemon, and print each trace or show them on a live web page

USAGE:
    baton-trace [OPTIONS]          serve the trace view page and print each trace
    baton-trace serve [OPTIONS]    serve the trace view page (list, waterfall, map)
    baton-trace print [OPTIONS]    only print each trace as it settles (no page)

OPTIONS:
    --listen ADDR     UDP address to listen on [default: the UDP part of
                      AWS_XRAY_DAEMON_ADDRESS, else 127.0.0.1:2000]
    --otlp ADDR       TCP address to receive OTLP/HTTP on (POST /v1/traces,
                      protobuf or JSON) [default: 127.0.0.1:4318; if that
                      one is taken, OTLP is not received]
    --no-otlp         receive no OTLP
    --sampling-rules FILE
                      also serve the X-Ray daemon's sampling endpoints
                      (POST /GetSamplingRules, POST /SamplingTargets) on TCP
                      at the same address, with the rules in FILE (X-Ray API
                      or SDK `version: 2` format), and show what samplers
                      report for each rule
    --html DIR        also write each trace to DIR/<trace-id>.html
    --max-traces N    keep at most N traces, forgetting the one updated
                      longest ago [default: 10000; with print: 1000]
    --quiet-ms MS     print a trace once nothing new of it arrived for MS
                      milliseconds [default: 1500]
    --width N         line width [default: $COLUMNS, else 100]
    --ascii           draw with ASCII only
    --color WHEN      auto, always or never [default: auto: on a terminal
                      unless NO_COLOR is set]
    -v, --verbose     log every malformed datagram
    -h, --help        print this help
    -V, --version     print the version

PAGE OPTIONS (without print):
    --http ADDR       TCP address of the page [default: 127.0.0.1:2080; without
                      serve, a free port when that one is taken]
    --print           with serve: also print each trace

Point an OTLP exporter at it with OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318
and OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf (or http/json), a daemon exporter
(baton_xray::XrayExporter, or any X-Ray SDK) with AWS_XRAY_DAEMON_ADDRESS=127.0.0.1:2000,
and a centralized sampler at http://127.0.0.1:2000. Ctrl-C stops it.
";

const DAEMON_ADDRESS_ENV: &str = "AWS_XRAY_DAEMON_ADDRESS";

/// How many shown trace ids the printer remembers (see `Printer::show`).
const MAX_SHOWN_REMEMBERED: usize = 100_000;
const DEFAULT_ADDRESS: &str = "127.0.0.1:2000";
/// Where OTLP/HTTP is received unless told: the standard OTLP/HTTP port.
const DEFAULT_OTLP_ADDRESS: &str = "127.0.0.1:4318";
/// Where `serve` puts the page unless told.
const DEFAULT_PAGE_ADDRESS: &str = "127.0.0.1:2080";
/// How many traces `serve` keeps unless told: the page is made to stay quick with this many.
const SERVE_MAX_TRACES: usize = 10_000;

/// What the command does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The page, and every trace printed (no subcommand).
    Both,
    /// The page; traces printed only with `--print` (`serve`).
    Serve,
    /// Every trace printed, no page (`print`).
    Print,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ColorWhen {
    Auto,
    Always,
    Never,
}

#[derive(Debug, PartialEq)]
struct Args {
    mode: Mode,
    http: Option<String>,
    print: bool,
    max_traces: Option<usize>,
    listen: Option<String>,
    otlp: Option<String>,
    no_otlp: bool,
    sampling_rules: Option<PathBuf>,
    html: Option<PathBuf>,
    quiet: Duration,
    width: Option<usize>,
    ascii: bool,
    color: ColorWhen,
    verbose: bool,
    help: bool,
    version: bool,
}

impl Args {
    fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
        let mut parsed = Args {
            mode: Mode::Both,
            http: None,
            print: false,
            max_traces: None,
            listen: None,
            otlp: None,
            no_otlp: false,
            sampling_rules: None,
            html: None,
            quiet: Duration::from_millis(1500),
            width: None,
            ascii: false,
            color: ColorWhen::Auto,
            verbose: false,
            help: false,
            version: false,
        };
        let mut args = args.into_iter().peekable();
        match args.peek().map(String::as_str) {
            Some("serve") => parsed.mode = Mode::Serve,
            Some("print") => parsed.mode = Mode::Print,
            _ => {}
        }
        if parsed.mode != Mode::Both {
            args.next();
        }
        while let Some(arg) = args.next() {
            // `--flag=value` and `--flag value` both work.
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => {
                    (flag.to_owned(), Some(value.to_owned()))
                }
                _ => (arg.clone(), None),
            };
            let mut value = |name: &str| {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match flag.as_str() {
                "--listen" => parsed.listen = Some(value("--listen")?),
                "--otlp" => parsed.otlp = Some(value("--otlp")?),
                "--no-otlp" => parsed.no_otlp = true,
                "--sampling-rules" => {
                    parsed.sampling_rules = Some(PathBuf::from(value("--sampling-rules")?));
                }
                "--html" => parsed.html = Some(PathBuf::from(value("--html")?)),
                "--http" => parsed.http = Some(value("--http")?),
                "--print" => parsed.print = true,
                "--max-traces" => {
                    let n = value("--max-traces")?;
                    parsed.max_traces = match n.parse::<usize>() {
                        Ok(n) if n > 0 => Some(n),
                        _ => return Err(format!("--max-traces takes a number above 0, not {n:?}")),
                    };
                }
                "--quiet-ms" => {
                    let ms = value("--quiet-ms")?;
                    let ms: u64 = ms
                        .parse()
                        .map_err(|_| format!("--quiet-ms takes milliseconds, not {ms:?}"))?;
                    parsed.quiet = Duration::from_millis(ms);
                }
                "--width" => {
                    let n = value("--width")?;
                    parsed.width = Some(
                        n.parse()
                            .map_err(|_| format!("--width takes a number, not {n:?}"))?,
                    );
                }
                "--color" | "--colour" => {
                    parsed.color = match value("--color")?.as_str() {
                        "auto" => ColorWhen::Auto,
                        "always" => ColorWhen::Always,
                        "never" => ColorWhen::Never,
                        other => {
                            return Err(format!(
                                "--color takes auto, always or never, not {other:?}"
                            ));
                        }
                    }
                }
                "--no-color" => parsed.color = ColorWhen::Never,
                "--ascii" => parsed.ascii = true,
                "-v" | "--verbose" => parsed.verbose = true,
                "-h" | "--help" => parsed.help = true,
                "-V" | "--version" => parsed.version = true,
                "serve" | "print" => {
                    return Err(format!(
                        "`{flag}` comes first: baton-trace {flag} [OPTIONS]"
                    ));
                }
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        if parsed.no_otlp && parsed.otlp.is_some() {
            return Err("--otlp and --no-otlp contradict each other".into());
        }
        if parsed.mode == Mode::Print && parsed.http.is_some() {
            return Err(
                "--http is an option of the page, which `baton-trace print` has not".into(),
            );
        }
        if parsed.mode != Mode::Serve && parsed.print {
            return Err(
                "--print is an option of `baton-trace serve` (the others print anyway)".into(),
            );
        }
        Ok(parsed)
    }
}

/// The UDP address from `AWS_XRAY_DAEMON_ADDRESS`: `host:port`, or
/// `tcp:host:port udp:host:port` in either order.
fn udp_part(value: &str) -> Option<&str> {
    let parts: Vec<&str> = value.split_whitespace().collect();
    match parts.as_slice() {
        [one] if !one.starts_with("tcp:") && !one.starts_with("udp:") => Some(one),
        [a, b] => [a, b].into_iter().find_map(|p| p.strip_prefix("udp:")),
        _ => None,
    }
}

/// `host:port` as one socket address.
fn resolve(text: &str) -> Result<SocketAddr, String> {
    text.to_socket_addrs()
        .map_err(|error| format!("cannot resolve {text:?}: {error}"))?
        .next()
        .ok_or_else(|| format!("{text:?} resolves to no address"))
}

/// Where to listen: `--listen`, else the environment, else the daemon's default.
fn listen_address(
    flag: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<SocketAddr, String> {
    let from_env = env(DAEMON_ADDRESS_ENV).filter(|v| !v.trim().is_empty());
    let text = match (flag, &from_env) {
        (Some(flag), _) => flag.to_owned(),
        (None, Some(value)) => udp_part(value)
            .ok_or_else(|| format!("{DAEMON_ADDRESS_ENV}={value:?} names no UDP address"))?
            .to_owned(),
        (None, None) => DEFAULT_ADDRESS.to_owned(),
    };
    resolve(&text)
}

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("baton-trace: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.help {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    if args.version {
        println!("baton-trace {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(if args.verbose {
            tracing::Level::DEBUG
        } else {
            tracing::Level::WARN
        })
        .with_target(false)
        .init();

    let addr = match listen_address(args.listen.as_deref(), |k| std::env::var(k).ok()) {
        Ok(addr) => addr,
        Err(message) => {
            eprintln!("baton-trace: {message}");
            return ExitCode::from(2);
        }
    };
    let page = match args.mode {
        Mode::Print => None,
        Mode::Both | Mode::Serve => {
            match resolve(args.http.as_deref().unwrap_or(DEFAULT_PAGE_ADDRESS)) {
                Ok(page) => Some(page),
                Err(message) => {
                    eprintln!("baton-trace: --http: {message}");
                    return ExitCode::from(2);
                }
            }
        }
    };
    let otlp = if args.no_otlp {
        None
    } else {
        match resolve(args.otlp.as_deref().unwrap_or(DEFAULT_OTLP_ADDRESS)) {
            Ok(otlp) => Some(otlp),
            Err(message) => {
                eprintln!("baton-trace: --otlp: {message}");
                return ExitCode::from(2);
            }
        }
    };
    // Read before anything listens, so a bad file is reported at once.
    let rules = match &args.sampling_rules {
        Some(path) => match SamplingRules::from_path(path) {
            Ok(rules) => Some(rules),
            Err(error) => {
                eprintln!("baton-trace: {error}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    if let Some(dir) = &args.html
        && let Err(error) = std::fs::create_dir_all(dir)
    {
        eprintln!("baton-trace: cannot create {}: {error}", dir.display());
        return ExitCode::FAILURE;
    }
    // The collector (UDP receiver, sampling server) runs on a worker thread of its own, and
    // this thread prints: a stalled stdout (a paused `| less`) then stalls only the printing,
    // not the receiving (the kernel would drop datagrams) nor the samplers' answers.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("baton-trace: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(args, addr, page, otlp, rules))
}

async fn run(
    args: Args,
    addr: SocketAddr,
    page: Option<SocketAddr>,
    otlp: Option<SocketAddr>,
    rules: Option<SamplingRules>,
) -> ExitCode {
    let mut collector = match Collector::bind(addr) {
        Ok(collector) => collector,
        Err(error) => {
            eprintln!("baton-trace: cannot listen on udp {addr}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let default_max = match args.mode {
        Mode::Print => DEFAULT_MAX_TRACES,
        Mode::Both | Mode::Serve => SERVE_MAX_TRACES,
    };
    collector = collector
        .with_assembler(Assembler::new().with_max_traces(args.max_traces.unwrap_or(default_max)));
    if let Some(page) = page {
        // Without a subcommand the page is a bonus: if its default port is taken, it goes to
        // a free one rather than stop the printing. Asked for (`serve`, `--http`), it must bind.
        let fallback = args.mode == Mode::Both && args.http.is_none();
        if fallback && std::net::TcpListener::bind(page).is_err() {
            let free = SocketAddr::new(page.ip(), 0);
            eprintln!("baton-trace: tcp {page} is taken; the page goes to a free port");
            collector = match collector.with_page(free) {
                Ok(collector) => collector,
                Err(error) => {
                    eprintln!("baton-trace: cannot serve the page on tcp {free}: {error}");
                    return ExitCode::FAILURE;
                }
            };
        } else {
            collector = match collector.with_page(page) {
                Ok(collector) => collector,
                Err(error) => {
                    eprintln!("baton-trace: cannot serve the page on tcp {page}: {error}");
                    return ExitCode::FAILURE;
                }
            };
        }
    }
    if let Some(otlp) = otlp {
        // Exporters look for OTLP at one port: a free port instead would receive nothing. So
        // the default, if taken, is skipped with a word; an address asked for must bind.
        let taken = args.otlp.is_none() && std::net::TcpListener::bind(otlp).is_err();
        if taken {
            eprintln!(
                "baton-trace: tcp {otlp} is taken (another collector?): not receiving OTLP; \
                 pass --otlp ADDR for another address, or --no-otlp"
            );
        } else {
            collector = match collector.with_otlp(otlp) {
                Ok(collector) => collector,
                Err(error) => {
                    eprintln!("baton-trace: cannot receive OTLP on tcp {otlp}: {error}");
                    return ExitCode::FAILURE;
                }
            };
        }
    }
    eprintln!(
        "baton-trace: listening on udp {} (X-Ray daemon format); Ctrl-C to stop",
        collector.local_addr()
    );
    let wanted = rules.is_some();
    if let Some(rules) = rules {
        collector = collector.with_sampling_rules(rules);
    }
    let mut handle = collector.spawn();
    if let Some(otlp) = handle.otlp_addr() {
        eprintln!("baton-trace: receiving OTLP/HTTP at http://{otlp}/v1/traces");
    }
    if let Some(page) = handle.page_addr() {
        eprintln!("baton-trace: trace view at http://{page}/");
    }
    // `serve` prints only when asked; the others always do.
    let printing = args.mode != Mode::Serve || args.print;
    // Counts are shown only while the rules are served: nothing else can report them.
    let serving = handle.sampling_addr().is_some();
    if wanted {
        match handle.sampling_addr() {
            Some(tcp) => eprintln!(
                "baton-trace: serving {} sampling rules on tcp {tcp} (POST /GetSamplingRules, \
                 POST /SamplingTargets)",
                handle.sampling_stats().len()
            ),
            // The collector logged why.
            None => eprintln!(
                "baton-trace: not serving sampling rules (tcp {} unavailable); samplers will \
                 use their local rules",
                handle.local_addr()
            ),
        }
    }

    let stdout = std::io::stdout();
    let colors = match args.color {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    let width = args
        .width
        .or_else(|| std::env::var("COLUMNS").ok()?.trim().parse().ok())
        .unwrap_or(100);
    let options = WaterfallOptions::new(width)
        .with_colors(colors)
        .with_ascii(args.ascii);
    let mut printer = Printer {
        options,
        html: args.html.clone(),
        print: printing,
        shown: HashSet::new(),
        distinct: 0,
    };

    let tick = (args.quiet / 4).clamp(Duration::from_millis(20), Duration::from_millis(250));
    let mut ticks = tokio::time::interval(tick);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = &mut ctrl_c => break,
            _ = ticks.tick() => {
                let settled = handle.take_settled(args.quiet);
                if !settled.is_empty() {
                    let sampling = if serving { handle.sampling_stats() } else { Vec::new() };
                    for trace in &settled {
                        printer.show(trace, &sampling);
                    }
                }
            }
        }
    }
    // What was still arriving when stopped is shown as it stands.
    let stats = handle.shutdown().await;
    let sampling = if serving {
        handle.sampling_stats()
    } else {
        Vec::new()
    };
    for trace in handle.take_settled(Duration::ZERO) {
        printer.show(&trace, &sampling);
    }
    eprintln!(
        "baton-trace: {} traces, {} datagrams, {} malformed, {} duplicate parts",
        printer.distinct, stats.datagrams, stats.malformed, stats.duplicates
    );
    eprint!("{}", render_rule_counts(&sampling));
    ExitCode::SUCCESS
}

/// What samplers reported per rule, one line each (nothing without served rules).
fn render_rule_counts(counts: &[RuleCounts]) -> String {
    if counts.is_empty() {
        return String::new();
    }
    let mut text = String::from("sampling (as reported by samplers, every 10 s):\n");
    let width = counts
        .iter()
        .map(|c| c.rule.chars().count())
        .max()
        .unwrap_or(0);
    for c in counts {
        let clients = match c.clients.len() {
            1 => "1 client".to_owned(),
            n => format!("{n} clients"),
        };
        let padding = width - c.rule.chars().count();
        text.push_str(&format!(
            "  {}{:padding$}  {} requests, {} sampled, {} borrowed ({clients})\n",
            c.rule, "", c.requests, c.sampled, c.borrowed
        ));
    }
    text
}

struct Printer {
    options: WaterfallOptions,
    html: Option<PathBuf>,
    /// Whether to print (else only count, and write the HTML files if asked).
    print: bool,
    shown: HashSet<String>,
    /// How many distinct traces were shown (`shown` forgets now and then).
    distinct: usize,
}

impl Printer {
    fn show(&mut self, trace: &Trace, sampling: &[RuleCounts]) {
        // Which traces were shown, to mark a later update of one; forgotten in bulk now and
        // then, so a collector left running does not grow without bound.
        if self.shown.len() >= MAX_SHOWN_REMEMBERED {
            self.shown.clear();
        }
        let again = !self.shown.insert(trace.id().to_owned());
        if !again {
            self.distinct += 1;
        }
        if !self.print {
            if let Some(dir) = &self.html {
                let path = dir.join(format!("{}.html", trace.id()));
                if let Err(error) = write_html(trace, &path) {
                    eprintln!("baton-trace: cannot write {}: {error}", path.display());
                }
            }
            return;
        }
        let rule = if self.options.ascii { "=" } else { "━" };
        let mut text = String::new();
        text.push_str(&rule.repeat(self.options.width.clamp(20, 200)));
        text.push('\n');
        if again {
            text.push_str("(updated: more of this trace arrived after it was shown)\n");
        }
        text.push_str(&render_waterfall_with(trace, &self.options));
        text.push_str("\nservice map:\n");
        for line in render_service_map(trace).lines() {
            text.push_str("  ");
            text.push_str(line);
            text.push('\n');
        }
        text.push_str(&render_rule_counts(sampling));
        if let Some(dir) = &self.html {
            // Trace ids are letters, digits and dashes only (checked on arrival).
            let path = dir.join(format!("{}.html", trace.id()));
            match write_html(trace, &path) {
                Ok(()) => text.push_str(&format!("html: {}\n", path.display())),
                Err(error) => eprintln!("baton-trace: cannot write {}: {error}", path.display()),
            }
        }
        text.push('\n');
        let mut out = std::io::stdout().lock();
        // A closed pipe (`| head`) is no reason to stop collecting.
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        Args::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn flags() {
        let args = parse(&[
            "--listen",
            "127.0.0.1:3000",
            "--html=out",
            "--quiet-ms",
            "200",
        ])
        .unwrap();
        assert_eq!(args.listen.as_deref(), Some("127.0.0.1:3000"));
        assert_eq!(args.html, Some(PathBuf::from("out")));
        assert_eq!(args.quiet, Duration::from_millis(200));
        assert_eq!(args.sampling_rules, None);
        assert_eq!(
            parse(&["--sampling-rules", "rules.json"])
                .unwrap()
                .sampling_rules,
            Some(PathBuf::from("rules.json"))
        );
        assert!(parse(&["--sampling-rules"]).is_err());
        assert_eq!(parse(&[]).unwrap().quiet, Duration::from_millis(1500));
        assert_eq!(
            parse(&["--color", "never"]).unwrap().color,
            ColorWhen::Never
        );
        assert!(parse(&["--ascii", "-v"]).unwrap().ascii);
        assert!(parse(&["--quiet-ms", "soon"]).is_err());
        assert!(parse(&["--listen"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
        assert_eq!(parse(&[]).unwrap().mode, Mode::Both);
        assert_eq!(parse(&["print", "-v"]).unwrap().mode, Mode::Print);
        assert!(parse(&["print", "--http", "127.0.0.1:0"]).is_err());
        assert!(parse(&["-v", "print"]).is_err());
        assert_eq!(
            parse(&["--otlp", "127.0.0.1:4319"])
                .unwrap()
                .otlp
                .as_deref(),
            Some("127.0.0.1:4319")
        );
        assert!(parse(&["--no-otlp"]).unwrap().no_otlp);
        assert!(parse(&["--no-otlp", "--otlp=127.0.0.1:1"]).is_err());
    }

    #[test]
    fn serve_comes_first_and_owns_its_options() {
        let args = parse(&[
            "serve",
            "--http",
            "127.0.0.1:0",
            "--print",
            "--max-traces=50",
        ])
        .unwrap();
        assert!(args.mode == Mode::Serve && args.print);
        assert_eq!(args.http.as_deref(), Some("127.0.0.1:0"));
        assert_eq!(args.max_traces, Some(50));
        assert!(parse(&["serve"]).unwrap().http.is_none());
        assert_eq!(
            parse(&["--http", "127.0.0.1:0"]).unwrap().http.as_deref(),
            Some("127.0.0.1:0")
        );
        assert!(parse(&["--print"]).is_err());
        assert!(parse(&["--quiet-ms", "5", "serve"]).is_err());
        assert!(parse(&["serve", "--max-traces", "0"]).is_err());
        assert!(parse(&["serve", "--max-traces", "many"]).is_err());
    }

    #[test]
    fn the_address_comes_from_the_flag_then_the_environment() {
        let env = |value: &'static str| move |_: &str| Some(value.to_owned());
        assert_eq!(
            listen_address(None, |_| None).unwrap(),
            "127.0.0.1:2000".parse().unwrap()
        );
        assert_eq!(
            listen_address(None, env("tcp:127.0.0.1:2000 udp:127.0.0.1:2001")).unwrap(),
            "127.0.0.1:2001".parse().unwrap()
        );
        assert_eq!(
            listen_address(None, env("127.0.0.1:2002")).unwrap(),
            "127.0.0.1:2002".parse().unwrap()
        );
        assert_eq!(
            listen_address(Some("127.0.0.1:2003"), env("127.0.0.1:2002")).unwrap(),
            "127.0.0.1:2003".parse().unwrap()
        );
        assert!(listen_address(None, env("udp:127.0.0.1:2001")).is_err());
        assert!(listen_address(None, env("nonsense")).is_err());
    }

    #[test]
    fn rule_counts_are_one_aligned_line_each() {
        let served = baton_sampling::SamplingRules::from_json(include_str!(
            "../examples/sampling-rules.json"
        ))
        .unwrap();
        let mut counts: Vec<RuleCounts> = served
            .rules()
            .iter()
            .map(|rule| {
                let mut counts = RuleCounts::default();
                counts.rule = rule.name.clone();
                counts
            })
            .collect();
        counts[0].requests = 12;
        counts[0].sampled = 12;
        counts[0].clients.push(Default::default());
        assert_eq!(
            render_rule_counts(&counts),
            "sampling (as reported by samplers, every 10 s):\n\
             \x20 checkout       12 requests, 12 sampled, 0 borrowed (1 client)\n\
             \x20 health checks  0 requests, 0 sampled, 0 borrowed (0 clients)\n\
             \x20 Default        0 requests, 0 sampled, 0 borrowed (0 clients)\n"
        );
        assert_eq!(render_rule_counts(&[]), "");
    }
}
