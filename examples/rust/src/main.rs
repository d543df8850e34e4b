//! corrbus collector in Rust: takes tasks from the broker and answers each with one final result.
//!
//!   corrbus-collector --socket PATH --name NAME [--pattern PATTERN] [--hold]
//!
//! Speaks gRPC (tonic) over cleartext HTTP/2 on the broker's Unix socket. Prints JSON lines on stdout:
//! {"type":"ready"}, {"type":"task",...}, {"type":"answered",...}, and {"type":"error",...} before exiting 1.
//! Exits 0 on SIGTERM/SIGINT.

pub mod corrbus {
    pub mod v1 {
        tonic::include_proto!("corrbus.v1");
    }
}

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use corrbus::v1::correlation_service_client::CorrelationServiceClient;
use corrbus::v1::{CorrelationMetadata, EventEnvelope, PublishRequest, SubscribeRequest};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tokio::signal::unix::{SignalKind, signal};
use tonic::transport::{Channel, Endpoint};
use tower::service_fn;

const DEFAULT_PATTERN: &str = "control.collector.task.#";

struct Options {
    socket: PathBuf,
    name: String,
    pattern: String,
    hold: bool,
}

fn usage() -> String {
    "usage: corrbus-collector --socket PATH --name NAME [--pattern PATTERN] [--hold]".to_string()
}

fn parse_args() -> Result<Options, String> {
    let mut socket = None;
    let mut name = None;
    let mut pattern = DEFAULT_PATTERN.to_string();
    let mut hold = false;
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
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument {other:?}\n{}", usage())),
        }
    }
    Ok(Options {
        socket: socket.ok_or_else(|| format!("--socket is required\n{}", usage()))?,
        name: name.ok_or_else(|| format!("--name is required\n{}", usage()))?,
        pattern,
        hold,
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
/// (it only sets :authority, the connector ignores it).
async fn connect(socket: PathBuf) -> Result<Channel, tonic::transport::Error> {
    Endpoint::try_from("http://[::]:50051")?
        .connect_with_connector(service_fn(move |_: tonic::transport::Uri| {
            let socket = socket.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(socket).await?)) }
        }))
        .await
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

struct Collector {
    client: CorrelationServiceClient<Channel>,
    name: String,
    pid: u32,
    /// sequence_number per correlation_id: 1, 2, 3, ... for this process.
    sequences: HashMap<String, u64>,
}

impl Collector {
    /// Publishes this collector's one final result for a task, in the task's correlation.
    async fn answer(&mut self, task: &CorrelationMetadata) -> Result<(), tonic::Status> {
        let sequence = self
            .sequences
            .entry(task.correlation_id.clone())
            .or_insert(0);
        *sequence += 1;
        let payload = serde_json::json!({
            "collector": self.name,
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
                source_process: self.name.clone(),
                correlation_tags: task.correlation_tags.clone(),
                started_at: task.started_at,
                r#final: true,
            }),
            ..Default::default()
        };
        self.client
            .publish(PublishRequest {
                envelope: Some(envelope),
            })
            .await?;
        Ok(())
    }
}

async fn run(options: Options) -> Result<(), tonic::Status> {
    let pid = std::process::id();
    let channel = connect(options.socket.clone()).await.map_err(|error| {
        tonic::Status::unavailable(format!(
            "cannot connect to {}: {}",
            options.socket.display(),
            chain(&error)
        ))
    })?;
    let mut collector = Collector {
        client: CorrelationServiceClient::new(channel),
        name: options.name.clone(),
        pid,
        sequences: HashMap::new(),
    };
    let request = SubscribeRequest {
        patterns: vec![options.pattern.clone()],
        subscriber_name: options.name.clone(),
        subscriber_process_id: pid,
        ..Default::default()
    };
    let mut stream = collector.client.subscribe(request).await?.into_inner();
    let mut ready = false;

    let mut terminate =
        signal(SignalKind::terminate()).map_err(|e| tonic::Status::internal(e.to_string()))?;
    let mut interrupt =
        signal(SignalKind::interrupt()).map_err(|e| tonic::Status::internal(e.to_string()))?;
    loop {
        let response = tokio::select! {
            _ = terminate.recv() => return Ok(()),
            _ = interrupt.recv() => return Ok(()),
            message = stream.message() => message?,
        };
        let Some(response) = response else {
            return Err(tonic::Status::unavailable(
                "the broker ended the subscription",
            ));
        };
        if response.subscribed && !ready {
            ready = true;
            print(serde_json::json!({ "type": "ready" }));
        }
        for event in response.events {
            let Some(task) = event.correlation_metadata else {
                continue;
            };
            print(
                serde_json::json!({ "type": "task", "correlationId": task.correlation_id, "stage": task.workflow_stage }),
            );
            if options.hold {
                continue;
            }
            collector.answer(&task).await?;
            print(serde_json::json!({ "type": "answered", "correlationId": task.correlation_id }));
        }
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
