//! corrbus collector in Rust: takes tasks from the broker and answers each with one final result.
//!
//!   corrbus-collector --socket PATH --name NAME [--pattern PATTERN] [--hold]
//!                     [--work-ms MS] [--max-reconnects N]
//!
//! Speaks gRPC (tonic) over cleartext HTTP/2 on the broker's Unix socket. Prints JSON lines on stdout:
//! {"type":"ready"}, {"type":"task",...}, {"type":"answered",...}, {"type":"retry",...} per publish
//! attempt retried, {"type":"reconnect",...} per re-subscription attempt, {"type":"resumed",...} once
//! subscribed again, and {"type":"error",...} before exiting 1 (a request the broker refused, or
//! --max-reconnects attempts in a row failed). Exits 0 on SIGTERM/SIGINT.
//!
//! It outlives broker crashes and restarts: any connection loss is retried with backoff (100 ms
//! doubling to 5 s), the subscription resumes by replay from the event after the last one seen
//! (nothing missed, nothing twice), and each answer is published once (`publish_once`).

pub mod corrbus {
    pub mod v1 {
        tonic::include_proto!("corrbus.v1");
    }
}

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use corrbus::v1::correlation_service_client::CorrelationServiceClient;
use corrbus::v1::subscribe_request::Start;
use corrbus::v1::{
    CorrelationMetadata, EventEnvelope, GetWorkflowRequest, PublishRequest, SubscribeRequest,
};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tokio::signal::unix::{SignalKind, signal};
use tonic::Code;
use tonic::transport::{Channel, Endpoint};
use tower::service_fn;

const DEFAULT_PATTERN: &str = "control.collector.task.#";

/// Bounds one unary call (and the start of a subscription), so a broker that stopped answering
/// cannot hang a task: the call fails with DEADLINE_EXCEEDED and is retried like a lost connection.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

async fn bounded<T>(
    call: impl Future<Output = Result<T, tonic::Status>>,
) -> Result<T, tonic::Status> {
    tokio::time::timeout(CALL_TIMEOUT, call)
        .await
        .unwrap_or_else(|_| Err(tonic::Status::deadline_exceeded("no answer within 10 s")))
}

struct Options {
    socket: PathBuf,
    name: String,
    pattern: String,
    hold: bool,
    /// Time each task's work takes before the answer.
    work: Duration,
    /// Failed re-subscription attempts in a row before giving up; 0: never.
    max_reconnects: u32,
}

fn usage() -> String {
    "usage: corrbus-collector --socket PATH --name NAME [--pattern PATTERN] [--hold] [--work-ms MS] [--max-reconnects N]".to_string()
}

fn number<T: std::str::FromStr>(flag: &str, text: String) -> Result<T, String> {
    text.parse().map_err(|_| {
        format!(
            "{flag}: {text:?} is not a non-negative integer\n{}",
            usage()
        )
    })
}

fn parse_args() -> Result<Options, String> {
    let mut socket = None;
    let mut name = None;
    let mut pattern = DEFAULT_PATTERN.to_string();
    let mut hold = false;
    let mut work_ms: u64 = 0;
    let mut max_reconnects: u32 = 0;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_string(), Some(value.to_string()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = |flag: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value\n{}", usage()))
        };
        match flag.as_str() {
            "--socket" => socket = Some(PathBuf::from(value("--socket")?)),
            "--name" => name = Some(value("--name")?),
            "--pattern" => pattern = value("--pattern")?,
            "--hold" => hold = true,
            "--work-ms" => work_ms = number("--work-ms", value("--work-ms")?)?,
            "--max-reconnects" => {
                max_reconnects = number("--max-reconnects", value("--max-reconnects")?)?
            }
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument {other:?}\n{}", usage())),
        }
    }
    Ok(Options {
        socket: socket.ok_or_else(|| format!("--socket is required\n{}", usage()))?,
        name: name.ok_or_else(|| format!("--name is required\n{}", usage()))?,
        pattern,
        hold,
        work: Duration::from_millis(work_ms),
        max_reconnects,
    })
}

/// One JSON line on stdout, flushed at once (the parent process reads line by line).
fn print(line: serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn print_error(status: &tonic::Status) {
    print(
        serde_json::json!({ "type": "error", "code": status.code() as i32, "message": status.message() }),
    );
}

/// A channel whose every connection is a fresh Unix-socket stream; the URI is a placeholder
/// (it only sets :authority, the connector ignores it). Lazy: it connects on the first call and
/// again on the first call after a connection was lost, so it outlives broker restarts.
fn connect(socket: PathBuf) -> Result<Channel, tonic::transport::Error> {
    Ok(Endpoint::try_from("http://[::]:50051")?.connect_with_connector_lazy(service_fn(
        move |_: tonic::transport::Uri| {
            let socket = socket.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(socket).await?)) }
        },
    )))
}

/// An error and its sources, e.g. "transport error: No such file or directory (os error 2)".
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Capped exponential backoff: 100 ms doubling to 5 s; `max_attempts` failures in a row, 0 never
/// gives up (a broker replaying a long journal must not end its collectors; the wait is capped).
struct Backoff {
    attempts: u32,
    max_attempts: u32,
}

impl Backoff {
    fn new(max_attempts: u32) -> Self {
        Backoff {
            attempts: 0,
            max_attempts,
        }
    }

    /// The wait before the next attempt (counting this failure), or None when the attempts are used up.
    fn next_delay(&mut self) -> Option<Duration> {
        if self.max_attempts > 0 && self.attempts >= self.max_attempts {
            return None;
        }
        let delay = Duration::from_millis(100 << self.attempts.min(6)).min(Duration::from_secs(5));
        self.attempts += 1;
        Some(delay)
    }
}

/// Whether a call that failed with `code` may succeed when made again: everything but the codes
/// that say the request itself is wrong or not allowed. UNAVAILABLE (no socket, nobody listening,
/// connection lost, broker shutting down), CANCELLED (a stream reset under us) and
/// INTERNAL/UNKNOWN (a transport that broke midway: tonic's "h2 protocol error") are retried.
fn retryable(code: Code) -> bool {
    !matches!(
        code,
        Code::InvalidArgument
            | Code::PermissionDenied
            | Code::Unauthenticated
            | Code::Unimplemented
            | Code::FailedPrecondition
            | Code::OutOfRange
            | Code::NotFound
            | Code::AlreadyExists
    )
}

/// Why the collector stopped: a task it could not answer (a publish the broker refused) or a
/// subscription that could not go on; both are printed as the error line.
enum Failure {
    Task(tonic::Status),
    Subscription(tonic::Status),
}

struct Collector {
    client: CorrelationServiceClient<Channel>,
    options: Options,
    pid: u32,
    /// sequence_number per correlation_id: 1, 2, 3, ... for this process.
    sequences: HashMap<String, u64>,
}

impl Collector {
    /// Subscribes and handles tasks until the broker refuses a request or the re-subscription
    /// attempts run out.
    async fn serve(&mut self) -> tonic::Status {
        let mut backoff = Backoff::new(self.options.max_reconnects);
        // The newest event id handled (before any, the head at the first subscribe).
        let mut seen: Option<u64> = None;
        loop {
            let status = match self.follow(&mut seen, &mut backoff).await {
                Failure::Task(status) => return status,
                Failure::Subscription(status) => status,
            };
            let delay = if retryable(status.code()) {
                backoff.next_delay()
            } else {
                None
            };
            let Some(delay) = delay else { return status };
            print(serde_json::json!({
                "type": "reconnect",
                "attempt": backoff.attempts,
                "code": status.code() as i32,
                "message": status.message(),
            }));
            tokio::time::sleep(delay).await;
        }
    }

    /// One subscription, until it fails, advancing `seen` past each event handled.
    async fn follow(&mut self, seen: &mut Option<u64>, backoff: &mut Backoff) -> Failure {
        let request = SubscribeRequest {
            patterns: vec![self.options.pattern.clone()],
            subscriber_name: self.options.name.clone(),
            subscriber_process_id: self.pid,
            // Replay what was stored while we were away, then go on live.
            start: seen.map(|id| Start::FromEventId(id + 1)),
            ..Default::default()
        };
        let resumed_from = seen.map(|id| id + 1);
        let mut stream = match bounded(self.client.subscribe(request)).await {
            Ok(response) => response.into_inner(),
            Err(status) => return Failure::Subscription(status),
        };
        loop {
            let response = match stream.message().await {
                Ok(Some(response)) => response,
                Ok(None) => {
                    return Failure::Subscription(tonic::Status::unavailable(
                        "the broker ended the subscription",
                    ));
                }
                Err(status) => return Failure::Subscription(status),
            };
            if response.subscribed {
                match resumed_from {
                    Some(from) => print(
                        serde_json::json!({ "type": "resumed", "fromEventId": from.to_string() }),
                    ),
                    None => {
                        *seen = Some(response.head_event_id);
                        print(serde_json::json!({ "type": "ready" }));
                    }
                }
                backoff.attempts = 0;
            }
            for event in response.events {
                if seen.is_some_and(|id| event.event_id <= id) {
                    continue; // handled before the connection was lost
                }
                if let Some(task) = &event.correlation_metadata {
                    print(serde_json::json!({
                        "type": "task",
                        "correlationId": task.correlation_id,
                        "stage": task.workflow_stage,
                        "eventId": event.event_id.to_string(),
                    }));
                    if !self.options.hold {
                        if let Err(status) = self.answer(task).await {
                            return Failure::Task(status);
                        }
                    }
                }
                *seen = Some(event.event_id);
            }
        }
    }

    /// Does the task's work, then publishes this collector's one final result for it, in the
    /// task's correlation.
    async fn answer(&mut self, task: &CorrelationMetadata) -> Result<(), tonic::Status> {
        tokio::time::sleep(self.options.work).await;
        let sequence = self
            .sequences
            .entry(task.correlation_id.clone())
            .or_insert(0);
        *sequence += 1;
        let payload = serde_json::json!({
            "collector": self.options.name,
            "language": "rust",
            "stage": task.workflow_stage,
            "pid": self.pid,
        });
        let envelope = EventEnvelope {
            topic: format!("events.collector.{}.result", task.workflow_stage),
            payload: payload.to_string().into_bytes(),
            content_type: "application/json".to_string(),
            timestamp: Some(prost_types::Timestamp::from(SystemTime::now())),
            publisher_process_id: self.pid,
            correlation_metadata: Some(CorrelationMetadata {
                correlation_id: task.correlation_id.clone(),
                parent_correlation_id: task.parent_correlation_id.clone(),
                root_correlation_id: task.root_correlation_id.clone(),
                sequence_number: *sequence,
                workflow_stage: task.workflow_stage.clone(),
                source_process: self.options.name.clone(),
                correlation_tags: task.correlation_tags.clone(),
                started_at: task.started_at,
                r#final: true,
            }),
            ..Default::default()
        };
        let (already_stored, retries) = self.publish_once(envelope).await?;
        print(serde_json::json!({
            "type": "answered",
            "correlationId": task.correlation_id,
            "alreadyStored": already_stored,
            "retries": retries,
        }));
        Ok(())
    }

    /// Publishes a correlated envelope exactly once across broker crashes and restarts; answers
    /// (already stored by an earlier attempt, retries).
    ///
    /// A publish whose connection is lost has an unknown outcome: the broker may have stored the
    /// event and died before answering. So the same envelope (same correlation_id,
    /// source_process, sequence_number) is kept, and once the broker answers again GetWorkflow
    /// tells whether this publisher's last_sequence_number in that correlation already covers
    /// it: then nothing is sent again. On NOT_FOUND (the correlation no longer tracked) it is sent
    /// again: at-least-once in that corner. Holds while one process publishes under its name and
    /// numbers its events 1, 2, 3... per correlation.
    async fn publish_once(
        &mut self,
        envelope: EventEnvelope,
    ) -> Result<(bool, u32), tonic::Status> {
        let meta = envelope.correlation_metadata.clone().unwrap_or_default();
        let mut backoff = Backoff::new(0);
        loop {
            let request = PublishRequest {
                envelope: Some(envelope.clone()),
            };
            match bounded(self.client.publish(request)).await {
                Ok(_) => return Ok((false, backoff.attempts)),
                // RESOURCE_EXHAUSTED on a publish is the event over a limit: no retry makes it fit.
                Err(status)
                    if !retryable(status.code()) || status.code() == Code::ResourceExhausted =>
                {
                    return Err(status);
                }
                Err(status) => retry_after(&mut backoff, &meta, &status).await,
            }
            // The outcome is unknown: ask the broker (as soon as it answers) whether it has the event.
            loop {
                let request = GetWorkflowRequest {
                    correlation_id: meta.correlation_id.clone(),
                };
                match bounded(self.client.get_workflow(request)).await {
                    Ok(response) => {
                        let workflow = response.into_inner().workflow.unwrap_or_default();
                        let stored = workflow.participants.iter().any(|participant| {
                            participant.source_process == meta.source_process
                                && participant.last_sequence_number >= meta.sequence_number
                        });
                        if stored {
                            return Ok((true, backoff.attempts));
                        }
                        break;
                    }
                    Err(status) if status.code() == Code::NotFound => break,
                    Err(status) if !retryable(status.code()) => return Err(status),
                    Err(status) => retry_after(&mut backoff, &meta, &status).await,
                }
            }
        }
    }
}

/// Reports a publish attempt that failed and waits the backoff before the next.
async fn retry_after(backoff: &mut Backoff, meta: &CorrelationMetadata, status: &tonic::Status) {
    let delay = backoff.next_delay().unwrap_or(Duration::from_secs(5));
    print(serde_json::json!({
        "type": "retry",
        "correlationId": meta.correlation_id,
        "attempt": backoff.attempts,
        "code": status.code() as i32,
        "message": status.message(),
    }));
    tokio::time::sleep(delay).await;
}

async fn run(options: Options) -> Result<(), tonic::Status> {
    let channel = connect(options.socket.clone()).map_err(|error| {
        tonic::Status::invalid_argument(format!(
            "cannot connect to {}: {}",
            options.socket.display(),
            chain(&error)
        ))
    })?;
    let mut collector = Collector {
        client: CorrelationServiceClient::new(channel),
        options,
        pid: std::process::id(),
        sequences: HashMap::new(),
    };
    let mut terminate =
        signal(SignalKind::terminate()).map_err(|e| tonic::Status::internal(e.to_string()))?;
    let mut interrupt =
        signal(SignalKind::interrupt()).map_err(|e| tonic::Status::internal(e.to_string()))?;
    // A signal ends whatever the collector waits for: a stream, a publish, a backoff, a task's work.
    tokio::select! {
        _ = terminate.recv() => Ok(()),
        _ = interrupt.recv() => Ok(()),
        status = collector.serve() => Err(status),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match run(options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(status) => {
            print_error(&status);
            ExitCode::FAILURE
        }
    }
}
