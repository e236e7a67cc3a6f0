//! One client connection of the pinned relay (`--relay pinned`) as a state machine without I/O,
//! as `src/gateway/proxy/pinned/` runs it in TypeScript: both byte streams in, the bytes for each
//! side and the events for the gateway out. The binding feeds it what the sockets read and
//! writes what it returns; the gateway's own logic (the router, authentication, the session
//! table, metrics) stays in TypeScript and hears from it through events.
//!
//! A call whose session the gateway has already routed to this connection's server (its key is
//! in the route cache) goes through without an event until it is over, so the common call never
//! waits on JavaScript. Every other call is decided by the gateway: `Event::Route`, then
//! `forward`, `answer_error`, `answer_frames` or `send_away`.

mod calls;
pub mod headers;
pub mod output;
mod requests;
mod responses;
#[cfg(test)]
mod tests;

use rustc_hash::FxHashMap;

use crate::frames::{FrameParser, DEFAULT_MAX_FRAME_PAYLOAD, MAX_FRAME_PAYLOAD};
use crate::hpack::{HpackDecoder, TableEncoder};
use crate::mask::SecretMasker;
use crate::scan::response::{ResponseIds, ResponseScan};
use crate::scan::{FirstMessagePeek, Method};

use headers::{HeaderList, RequestHead};
pub use output::{Output, Piece, Side};

/// HPACK tables may grow to what the peers announce; this bounds what the relay mirrors.
pub const MAX_MIRRORED_TABLE: u32 = 64 * 1024;
/// Request bytes held for calls not yet routed, per connection.
const MAX_HELD_BYTES: usize = 16 * 1024 * 1024;
/// The decoded header list a peer may send, as the TypeScript's decoder allows.
const MAX_HEADER_LIST_BYTES: u32 = 1 << 20;
/// Finished calls kept for reuse, per connection: as many as a busy client keeps in flight (the
/// gateway's 256 streams a connection), so a burst of calls allocates nothing.
const MAX_SPARE_CALLS: usize = 256;
/// A finished call that held more request bytes than this is not kept: its buffers go.
const MAX_SPARE_HELD_BYTES: usize = 64 * 1024;
/// Session and user ids longer than this (in UTF-16 units, as JavaScript counts) are refused by
/// the gateway; the relay leaves ids that might be to it.
const MAX_ID_BYTES: usize = 1024;

/// What a connection is set up with.
#[derive(Clone, Debug)]
pub struct Config {
    pub max_concurrent_streams: u32,
    pub max_message_bytes: u64,
    /// A first request message up to this size is read whole before its call is routed.
    pub whole_first_message_bytes: u64,
    /// Injected into requests and kept out of responses.
    pub backend_token: Option<Vec<u8>>,
    /// The gateway verifies callers: each `authorization` value is authenticated once.
    pub authenticating: bool,
    /// The verified identity must be the request's user id (see `Event::Route`).
    pub rewrite_user_id: bool,
    /// Unary calls of cached sessions that end OK and plain are summed up per session and method
    /// (`Engine::summaries`) rather than reported one by one.
    pub summarize_plain_calls: bool,
}

/// Where a call stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Its first message is being read; its frames are held.
    Peeking,
    /// Waiting for the gateway (authentication, routing); its frames are held.
    Routing,
    /// At the server: its frames are relayed.
    Upstream,
    /// Waiting for the gateway's own answer (not a gRPC call, a health check): its DATA is
    /// refunded.
    Answering,
}

/// A call on the connection, by its client stream id.
pub(crate) struct Stream {
    client_id: u32,
    upstream_id: u32,
    state: State,
    method: Option<Method>,
    /// The :path as the client sent it.
    path: Vec<u8>,
    headers: HeaderList,
    peek: FirstMessagePeek,
    /// Frames held until the call is routed, whole, one after another.
    held: Vec<u8>,
    /// Where each held frame starts in `held`.
    held_frames: Vec<usize>,
    /// Flow-controlled bytes (DATA payloads, padding included) among `held`.
    held_data_bytes: u32,
    /// The session key, once the call is routed by it.
    key: Vec<u8>,
    slot: u32,
    principal: String,
    // Boxed, as few calls have them: a call's box stays small enough to stay in cache.
    masker: Option<Box<SecretMasker>>,
    response_scan: Option<Box<ResponseScan>>,
    client_ended: bool,
    response_started: bool,
    /// Routed before its first message ended: the caller's user id is checked again at its end.
    identity_pending: bool,
    /// Counted by the gateway as an open stream of its session (it went to the server).
    forwarded: bool,
    /// Its start went into a summary, not an event: so does its end, if it ends OK and plain.
    summarized: bool,
    opened_at: f64,
    bytes_in: u64,
    bytes_out: u64,
    status: i32,
    message: Vec<u8>,
    /// The relay answered the call itself: the GatewayError code it answered with.
    fault: Option<&'static str>,
    /// A compressed first message's request bytes so far, gathered for the gateway to read.
    compressed: Option<Vec<u8>>,
    /// The whole compressed first message, to go to the gateway with the call's route.
    compressed_ready: Option<Vec<u8>>,
}

/// A call that is over, for the gateway's records.
#[derive(Debug, Clone)]
pub struct Completion {
    pub stream: u32,
    /// The gateway's slot of the call's session (0: never routed).
    pub slot: u32,
    pub method: Option<Method>,
    /// The :path, for a call that is not a SparkConnectService method.
    pub path: Vec<u8>,
    /// gRPC status; -1 when the call ended without one reaching the relay.
    pub status: i32,
    /// grpc-message as sent (percent-encoded), or the relay's own text.
    pub message: Vec<u8>,
    /// The relay answered the call itself with this GatewayError code.
    pub fault: Option<&'static str>,
    pub duration_ms: f64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// The call reached the server (the gateway counted it as started).
    pub forwarded: bool,
    /// What the first response message named.
    pub ids: Option<ResponseIds>,
}

/// Calls of one session and method summed up (see `Config::summarize_plain_calls`): those that
/// started, and those that ended OK without a message, a fault or ids to record.
#[derive(Debug, Clone)]
pub struct CallSummary {
    pub slot: u32,
    pub method: Method,
    pub started: u32,
    /// The duration of each call that ended, in ms.
    pub durations_ms: Vec<f64>,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// A new call the relay does not route itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opened {
    /// Not a gRPC request: the gateway answers with HTTP 415.
    NotGrpc,
    /// grpc.health.v1.Health/Check, answered by the gateway.
    HealthCheck,
}

/// What the gateway hears from a connection.
#[derive(Debug, Clone)]
pub enum Event {
    /// A call of a session in the route cache went to the server.
    Forwarded {
        stream: u32,
        slot: u32,
        /// Whether it streams matters to the gateway: an open stream keeps its session alive.
        method: Option<Method>,
    },
    /// The gateway routes this call: `forward`, `answer_error`, `answer_frames` or `send_away`.
    Route(RouteRequest),
    /// The caller's credentials (the `authorization` header, if any) need verifying:
    /// `authenticated` or `answer_error`.
    Authenticate {
        stream: u32,
        method: Option<Method>,
        path: Vec<u8>,
        authorization: Option<Vec<u8>>,
    },
    /// A call the gateway answers itself (`answer_frames` or `answer_error`).
    Opened {
        stream: u32,
        kind: Opened,
        head: RequestHead,
    },
    Completed(Completion),
    /// The connection refused something of the client's (a kind of the gateway's rejected
    /// metric) — recorded, nothing to answer.
    Rejected {
        kind: &'static str,
        detail: String,
    },
    /// The server sent what the relay cannot relay; the connection was closed.
    RelayFailed {
        detail: String,
    },
}

/// A call for the router, with the fields of its first message.
#[derive(Debug, Clone)]
pub struct RouteRequest {
    pub stream: u32,
    pub method: Option<Method>,
    pub path: Vec<u8>,
    pub principal: String,
    pub session_id: Option<String>,
    pub user_id: Option<String>,
    pub operation_id: Option<String>,
    /// The first message is compressed: the message as it came (gRPC prefix included) and the
    /// request's grpc-encoding, for the gateway to inflate and read; the fields above are then
    /// unset.
    pub compressed_message: Option<Vec<u8>>,
    pub encoding: Option<Vec<u8>>,
}

struct CachedRoute {
    slot: u32,
    /// The server-side session id of the session is known, so only responses naming operations
    /// need scanning.
    server_side_known: bool,
}

struct CachedIdentity {
    principal: String,
    valid_until: f64,
}

/// Token buckets bounding a client's resets and refused streams, as abuse-limits.ts.
struct TokenBucket {
    tokens: f64,
    at: f64,
    burst: f64,
    per_second: f64,
}

impl TokenBucket {
    fn new(burst: f64, per_second: f64) -> Self {
        TokenBucket {
            tokens: burst,
            at: f64::NAN,
            burst,
            per_second,
        }
    }

    fn take(&mut self, now: f64) -> bool {
        if !self.at.is_nan() {
            self.tokens = self
                .burst
                .min(self.tokens + (now - self.at) / 1000.0 * self.per_second);
        }
        self.at = now;
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

/// A pinned client connection.
pub struct Engine {
    config: Config,
    now: f64,
    // The client's side.
    preface_seen: usize,
    request_frames: FrameParser,
    request_decoder: HpackDecoder,
    request_block: Option<requests::OpenBlock>,
    own_settings_acked: bool,
    last_client_id: u32,
    goaway_last: Option<u32>,
    resets: TokenBucket,
    refusals: TokenBucket,
    /// Client frames for the server from before there was one (SETTINGS, WINDOW_UPDATE).
    before_pin: Vec<u8>,
    /// DATA the gateway sent the client itself, not yet refunded by it.
    injected: u64,
    // The calls.
    streams: FxHashMap<u32, Box<Stream>>,
    by_upstream_id: FxHashMap<u32, u32>,
    next_upstream_id: u32,
    last_forwarded_client_id: u32,
    held_bytes: usize,
    encoder: TableEncoder,
    /// The request fields `encoder` holds the server's block for, when that block left the
    /// encoder's table as it was, and the table's count of changes then: a call with the same
    /// fields sends the same block while the count stays (what else the block depends on, the
    /// server's authority and the configuration, stays as it is for the connection's life).
    encoded_for: Option<(HeaderList, u64)>,
    // The server's side.
    authority: Option<Vec<u8>>,
    response_frames: FrameParser,
    response_decoder: HpackDecoder,
    response_block: Option<responses::OpenBlock>,
    /// The client's HPACK table no longer follows the server's: response blocks are re-encoded.
    reencoding: bool,
    // What the gateway told it.
    epoch: u32,
    routes: FxHashMap<Vec<u8>, CachedRoute>,
    identities: FxHashMap<Vec<u8>, CachedIdentity>,
    events: Vec<Event>,
    summaries: Vec<CallSummary>,
    closed: bool,
    /// Scratch for locating frames in a chunk.
    located: Vec<crate::frames::Located>,
    /// Scratch for the session key of the call being routed.
    key: Vec<u8>,
    /// Finished calls and request header lists, reused by new calls. Boxed, as in `streams`: a
    /// call moves between the two as a pointer, not as the large struct it is.
    #[allow(clippy::vec_box)]
    spare: Vec<Box<Stream>>,
    spare_headers: Vec<HeaderList>,
}

impl Engine {
    /// A connection whose client has just connected: the client hears the gateway's SETTINGS
    /// at once (the server's follow once there is one).
    pub fn new(config: Config, now: f64, out: &mut Output) -> Self {
        let max_streams = config.max_concurrent_streams;
        let engine = Engine {
            config,
            now,
            preface_seen: 0,
            request_frames: FrameParser::new(DEFAULT_MAX_FRAME_PAYLOAD),
            request_decoder: HpackDecoder::new(MAX_MIRRORED_TABLE, MAX_HEADER_LIST_BYTES),
            request_block: None,
            own_settings_acked: false,
            last_client_id: 0,
            goaway_last: None,
            resets: TokenBucket::new(1000.0, 100.0),
            refusals: TokenBucket::new(100.0, 10.0),
            before_pin: Vec::new(),
            injected: 0,
            streams: FxHashMap::default(),
            by_upstream_id: FxHashMap::default(),
            next_upstream_id: 1,
            last_forwarded_client_id: 0,
            held_bytes: 0,
            encoder: TableEncoder::new(),
            encoded_for: None,
            authority: None,
            response_frames: FrameParser::new(MAX_FRAME_PAYLOAD),
            response_decoder: HpackDecoder::new(MAX_MIRRORED_TABLE, MAX_HEADER_LIST_BYTES),
            response_block: None,
            reencoding: false,
            epoch: 0,
            routes: FxHashMap::default(),
            identities: FxHashMap::default(),
            events: Vec::new(),
            summaries: Vec::new(),
            closed: false,
            located: Vec::new(),
            key: Vec::new(),
            spare: Vec::new(),
            spare_headers: Vec::new(),
        };
        out.settings(
            Side::Client,
            &[(output::SETTING_MAX_CONCURRENT_STREAMS, max_streams)],
        );
        engine
    }

    /// The calls summed up since the summaries were last taken (see
    /// `Config::summarize_plain_calls`); left untaken, the next calls add to them.
    pub fn take_summaries(&mut self) -> std::vec::Drain<'_, CallSummary> {
        self.summaries.drain(..)
    }

    /// Whether calls summed up wait to be taken.
    pub fn holds_summaries(&self) -> bool {
        !self.summaries.is_empty()
    }

    /// The summary of `slot`'s calls of `method` in this output.
    fn summary(&mut self, slot: u32, method: Method) -> &mut CallSummary {
        let at = match self
            .summaries
            .iter()
            .position(|summary| summary.slot == slot && summary.method == method)
        {
            Some(at) => at,
            None => {
                self.summaries.push(CallSummary {
                    slot,
                    method,
                    started: 0,
                    durations_ms: Vec::new(),
                    bytes_in: 0,
                    bytes_out: 0,
                });
                self.summaries.len() - 1
            }
        };
        &mut self.summaries[at]
    }

    /// The events since the last call, in order.
    pub fn take_events(&mut self) -> std::vec::Drain<'_, Event> {
        self.events.drain(..)
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The connection is over: the binding ends the client's socket once it wrote the output.
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// Whether the connection has a server yet.
    pub fn pinned(&self) -> bool {
        self.authority.is_some()
    }

    pub fn open_calls(&self) -> usize {
        self.streams.len()
    }

    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    /// When the oldest call still waiting for its first message opened, if any.
    pub fn oldest_peeking(&self) -> Option<f64> {
        self.streams
            .values()
            .filter(|stream| stream.state == State::Peeking)
            .map(|stream| stream.opened_at)
            .reduce(f64::min)
    }

    /// The gateway's routing state changed (a session ended, a server went down or restarted):
    /// every cached route is dropped.
    pub fn set_epoch(&mut self, epoch: u32) {
        if epoch != self.epoch {
            self.epoch = epoch;
            self.routes.clear();
            self.identities.clear();
        }
    }
}
