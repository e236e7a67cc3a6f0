//! A Spark Connect endpoint for the gateway benchmark that pauses for nothing: every call is
//! answered with gRPC messages the benchmark encoded beforehand with sparkplane's own codecs.
//! The in-repo Node.js server (test/support/fake-spark-connect.ts) collects its garbage in
//! pauses of 8-25 ms several times a second under load, which set every path's p99; this one,
//! with no collector and one thread, answers a Config call in microseconds, every time.
//!
//! ```text
//! sparkplane-steady-backend --config FILE --execute-plan FILE --batches N
//! ```
//! `--config`: the body of the ConfigResponse every Config call gets (the gateway's health probe
//! reads spark.app.id from it); `--execute-plan`: the body of one ExecutePlanResponse, sent
//! `--batches` times to every ExecutePlan call. Every other method gets UNIMPLEMENTED. Listens on
//! 127.0.0.1, a free port, and prints {"port":N} once it accepts calls.

use bytes::{BufMut, Bytes, BytesMut};
use h2::server::SendResponse;
use h2::{RecvStream, SendStream};
use std::future::poll_fn;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};

const SERVICE: &str = "/spark.connect.SparkConnectService/";

struct Canned {
    config: Bytes,
    execute_plan: Bytes,
    batches: usize,
}

/// A gRPC message: the uncompressed flag, the length, the body.
fn framed(body: &[u8]) -> Bytes {
    let mut message = BytesMut::with_capacity(5 + body.len());
    message.put_u8(0);
    message.put_u32(u32::try_from(body.len()).expect("a message under 4 GiB"));
    message.put_slice(body);
    message.freeze()
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "sparkplane-steady-backend: {problem}\nusage: sparkplane-steady-backend --config FILE --execute-plan FILE --batches N"
    );
    std::process::exit(2);
}

fn read_args() -> Canned {
    let mut config = None;
    let mut execute_plan = None;
    let mut batches = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let Some(value) = args.next() else {
            usage(&format!("{flag} needs a value"))
        };
        let read = |path: &str| match std::fs::read(path) {
            Ok(body) => framed(&body),
            Err(error) => usage(&format!("cannot read {path}: {error}")),
        };
        match flag.as_str() {
            "--config" => config = Some(read(&value)),
            "--execute-plan" => execute_plan = Some(read(&value)),
            "--batches" => match value.parse() {
                Ok(n) => batches = Some(n),
                Err(_) => usage(&format!("--batches {value} is not a count")),
            },
            _ => usage(&format!("unknown flag {flag}")),
        }
    }
    Canned {
        config: config.unwrap_or_else(|| usage("--config is required")),
        execute_plan: execute_plan.unwrap_or_else(|| usage("--execute-plan is required")),
        batches: batches.unwrap_or_else(|| usage("--batches is required")),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let canned = Arc::new(read_args());
    let listener = match TcpListener::bind("127.0.0.1:0").await {
        Ok(listener) => listener,
        Err(error) => usage(&format!("cannot listen on 127.0.0.1: {error}")),
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    println!("{{\"port\":{port}}}");
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            continue;
        };
        let canned = Arc::clone(&canned);
        tokio::spawn(async move {
            // A connection that fails (a client gone, bytes that are not HTTP/2) ends alone.
            let _ = serve(socket, canned).await;
        });
    }
}

async fn serve(socket: TcpStream, canned: Arc<Canned>) -> Result<(), h2::Error> {
    socket.set_nodelay(true).ok();
    let mut connection = h2::server::Builder::new()
        .max_concurrent_streams(1024)
        .initial_window_size(1 << 20)
        .initial_connection_window_size(16 << 20)
        .handshake(socket)
        .await?;
    while let Some(call) = connection.accept().await {
        let (request, respond) = call?;
        let canned = Arc::clone(&canned);
        let method = request
            .uri()
            .path()
            .strip_prefix(SERVICE)
            .unwrap_or("")
            .to_owned();
        tokio::spawn(async move {
            let _ = answer(&method, request.into_body(), respond, &canned).await;
        });
    }
    Ok(())
}

async fn answer(
    method: &str,
    mut body: RecvStream,
    mut respond: SendResponse<Bytes>,
    canned: &Canned,
) -> Result<(), h2::Error> {
    // The request is read to its end (and its flow-control credit given back), as a server does.
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        body.flow_control().release_capacity(chunk.len())?;
    }
    let head = http::Response::builder()
        .status(200)
        .header("content-type", "application/grpc")
        .body(())
        .expect("a valid response head");
    let mut send = respond.send_response(head, false)?;
    let status = match method {
        "Config" => {
            send_all(&mut send, canned.config.clone()).await?;
            "0"
        }
        "ExecutePlan" => {
            for _ in 0..canned.batches {
                send_all(&mut send, canned.execute_plan.clone()).await?;
            }
            "0"
        }
        _ => "12",
    };
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", http::HeaderValue::from_static(status));
    send.send_trailers(trailers)
}

/// Sends `bytes` as the peer's flow control lets it, holding no more than that in memory.
async fn send_all(send: &mut SendStream<Bytes>, mut bytes: Bytes) -> Result<(), h2::Error> {
    while !bytes.is_empty() {
        send.reserve_capacity(bytes.len());
        let granted = match poll_fn(|cx| send.poll_capacity(cx)).await {
            Some(granted) => granted?,
            None => return Err(h2::Error::from(h2::Reason::CANCEL)),
        };
        let piece = bytes.split_to(granted.min(bytes.len()));
        send.send_data(piece, false)?;
    }
    Ok(())
}
