//! `PinnedEngine` of the NativeCore interface: one pinned client connection (sparkplane-wire's
//! relay::Engine) driven from `src/gateway/proxy/pinned/native-connection.ts`.
//!
//! Every call crosses Node-API once and reports through one Float64Array (`io`) the binding owns:
//! what to write to each socket as pieces of the chunk just read or of the scratch buffer, and the
//! events as fixed records of numbers. Only an event that carries text (a call to route, a call's
//! error message) costs an object, fetched with `eventDetails`. Layout of `io`:
//!
//! ```text
//! [0] client pieces  [1] server pieces  [2] scratch bytes (-1: did not fit, see takeScratch)
//! [3] events         [4] 1 when the connection is over
//! [5] when the oldest call still reading its first message opened (-1: none; -2: not told,
//!     as only calls that read the client's bytes or expire calls tell)
//! then 2 numbers per piece: start (scratch pieces as -(start + 1)), length; client's first
//! then EVENT_WORDS numbers per event: kind, stream, slot, method (+1, 0 for none), status,
//!   duration ms, bytes in, bytes out, forwarded (0/1), details (0/1);
//!   a summary of calls (kind CALLS, after the other events): kind, 0, slot, method, calls
//!   started, calls ended, bytes in, bytes out, where the ended calls' durations (ms) are in
//!   `io`, 0
//! then the durations of the summaries' ended calls
//! ```
//!
//! A call returns 0, or the length `io` must have for the output, which then waits for `output`.

// napi-derive registers exports only outside test builds, where the functions then look unused.
#![cfg_attr(test, allow(dead_code))]

use std::cell::RefCell;
use std::ffi::{c_int, c_void};
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};

use napi::bindgen_prelude::{Buffer, BufferSlice, Float64ArraySlice, Unknown};
use napi::{Env, Error, JsValue, Result, Status};
use napi_derive::napi;
use sparkplane_wire::relay::{CallSummary, Config, Engine, Event, Opened, Output, Piece};
use sparkplane_wire::scan::Method;

use crate::socket_link::{Link, Notice, Reporter, Socket, READ_BYTES, UV_READABLE, UV_WRITABLE};

const HEAD_WORDS: usize = 6;
/// How long the OK calls that reads of a link's sockets summed up may wait to be reported, so
/// that JavaScript hears of them once for many reads.
const SUMMARIES_DELAY_MS: u64 = 5;
const EVENT_WORDS: usize = 10;

const FORWARDED: f64 = 1.0;
const COMPLETED: f64 = 2.0;
const ROUTE: f64 = 3.0;
const AUTHENTICATE: f64 = 4.0;
const OPENED: f64 = 5.0;
const REJECTED: f64 = 6.0;
const RELAY_FAILED: f64 = 7.0;
const CALLS: f64 = 8.0;

#[napi(object)]
pub struct PinnedEngineConfig {
    pub max_concurrent_streams: u32,
    pub max_message_bytes: f64,
    pub whole_first_message_bytes: f64,
    pub backend_token: Option<String>,
    pub authenticating: bool,
    pub rewrite_user_id: bool,
    /// OK unary calls of cached sessions come as summaries (kind CALLS), not one event each.
    pub summarize_plain_calls: bool,
}

/// What the numbers of an event do not say.
#[napi(object)]
pub struct PinnedEventDetails {
    /// The :path (Route, Opened, Completed of a call that is not a SparkConnectService method).
    pub path: Option<String>,
    pub principal: Option<String>,
    pub session_id: Option<String>,
    pub user_id: Option<String>,
    pub operation_id: Option<String>,
    pub compressed_message: Option<Buffer>,
    pub encoding: Option<String>,
    pub authorization: Option<String>,
    /// Opened: 'not-grpc' or 'health-check'; Rejected: the kind.
    pub kind: Option<String>,
    pub http_method: Option<String>,
    pub content_type: Option<String>,
    /// Completed: grpc-message or the relay's own text; Rejected, RelayFailed: the detail.
    pub message: Option<String>,
    /// Completed: the GatewayError code the relay answered with itself.
    pub fault: Option<String>,
    pub response_session_id: Option<String>,
    pub server_side_session_id: Option<String>,
    pub response_operation_id: Option<String>,
    pub new_session_id: Option<String>,
}

/// Octets as a latin1 string, one character per octet, as node:http2 gives header values.
fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&byte| char::from(byte)).collect()
}

/// A text the relay wrote (UTF-8), or octets a peer sent when they are not UTF-8.
fn text(bytes: &[u8]) -> String {
    std::str::from_utf8(bytes).map_or_else(|_| latin1(bytes), str::to_owned)
}

fn empty_details() -> PinnedEventDetails {
    PinnedEventDetails {
        path: None,
        principal: None,
        session_id: None,
        user_id: None,
        operation_id: None,
        compressed_message: None,
        encoding: None,
        authorization: None,
        kind: None,
        http_method: None,
        content_type: None,
        message: None,
        fault: None,
        response_session_id: None,
        server_side_session_id: None,
        response_operation_id: None,
        new_session_id: None,
    }
}

fn method_number(method: Option<Method>) -> f64 {
    method.map_or(0.0, |method| (method as usize + 1) as f64)
}

#[napi]
pub struct PinnedEngine {
    engine: Engine,
    out: Output,
    /// The events of the last call, for `eventDetails`.
    events: Vec<Event>,
    /// The calls the last call summed up.
    summaries: Vec<CallSummary>,
    /// Scratch that did not fit the buffer given, for `takeScratch`.
    spilled: Option<Vec<u8>>,
    /// The engine's events are still to be taken (the output of a new call, not a retry).
    fresh: bool,
    gone: bool,
    /// What `io[5]` says after the last call.
    peeking: f64,
    /// The call being made tells `io[5]` (reading the client's bytes, expiring calls).
    tells_peeking: bool,
    /// JavaScript was told of a call reading its first message and has set its timer for it,
    /// which calls `expire` when it fires: until then it needs to hear of no other.
    timer_set: bool,
    /// The sockets, once handed over (`adopt`): then every output goes to them, not to `io`.
    link: Option<Box<Link>>,
    /// JavaScript is being told of a step of the link's, and may end the link meanwhile.
    reporting: bool,
    /// The link was released while JavaScript was being told: it goes once that returns.
    released: bool,
}

#[napi]
impl PinnedEngine {
    /// A connection whose client just connected; its first output (the gateway's SETTINGS) is
    /// fetched with `output`.
    #[napi(constructor)]
    pub fn new(config: PinnedEngineConfig, now: f64) -> Self {
        let mut out = Output::default();
        let config = Config {
            max_concurrent_streams: config.max_concurrent_streams,
            max_message_bytes: config.max_message_bytes as u64,
            whole_first_message_bytes: config.whole_first_message_bytes as u64,
            backend_token: config
                .backend_token
                .map(|token| token.chars().map(|c| c as u32 as u8).collect()),
            authenticating: config.authenticating,
            rewrite_user_id: config.rewrite_user_id,
            summarize_plain_calls: config.summarize_plain_calls,
        };
        let engine = Engine::new(config, now, &mut out);
        PinnedEngine {
            engine,
            out,
            events: Vec::new(),
            summaries: Vec::new(),
            spilled: None,
            fresh: true,
            gone: false,
            peeking: -2.0,
            tells_peeking: false,
            timer_set: false,
            link: None,
            reporting: false,
            released: false,
        }
    }

    /// Takes over the client's socket (a duplicate of descriptor `client_fd`, which the caller
    /// then closes): from now on the engine reads and writes it itself and calls
    /// `on_notice(notice, detail)` when JavaScript has something to do (notices in
    /// socket_link.rs: 0 a step's output to fetch with `output`, 1 the client gone, 2 the server
    /// gone with the error if any, 3 a fault of the engine's). `epoch_cell` (a Uint32Array) holds
    /// the route epoch that `clientBytes` is otherwise given.
    #[napi]
    pub fn adopt(
        &mut self,
        env: Env,
        client_fd: i32,
        epoch_cell: Unknown,
        now: f64,
        on_notice: Unknown,
    ) -> Result<()> {
        if self.link.is_some() {
            return Err(Error::from_reason("the engine already has its sockets"));
        }
        // SAFETY: both values are arguments of this call.
        let mut link = unsafe { Link::new(env.raw(), on_notice.raw(), epoch_cell.raw(), now) }?;
        let owner = (self as *mut PinnedEngine).cast::<c_void>();
        let client =
            Socket::adopt(link.event_loop(), client_fd, owner, on_poll).map_err(|error| {
                Error::from_reason(format!("taking over the client's socket: {error}"))
            })?;
        link.client = Some(client);
        link.balance();
        self.link = Some(Box::new(link));
        // What the engine said before (its SETTINGS) goes out now.
        self.stepped(&[], false);
        Ok(())
    }

    /// Takes over the server's socket, once connected (as `adopt` the client's).
    #[napi]
    pub fn adopt_server(&mut self, server_fd: i32) -> Result<()> {
        let owner = (self as *mut PinnedEngine).cast::<c_void>();
        let Some(link) = self.link.as_mut() else {
            return Err(Error::from_reason("the engine has no client socket"));
        };
        if link.ending {
            return Ok(());
        }
        let server =
            Socket::adopt(link.event_loop(), server_fd, owner, on_poll).map_err(|error| {
                Error::from_reason(format!("taking over the server's socket: {error}"))
            })?;
        link.server_adopted(server);
        Ok(())
    }

    /// Ends the connection: the server's socket closes now, the client's once written to.
    #[napi]
    pub fn end_sockets(&mut self) {
        if let Some(link) = self.link.as_mut() {
            link.end();
        }
    }

    /// Closes both sockets now; no notice follows.
    #[napi]
    pub fn release(&mut self) {
        if self.reporting {
            if let Some(link) = self.link.as_mut() {
                link.client = None;
                link.server = None;
                link.ending = true;
            }
            self.released = true;
        } else {
            self.link = None;
        }
    }

    /// Whether calls summed up wait to be reported (with sockets, at most SUMMARIES_DELAY_MS).
    #[napi(getter)]
    pub fn holds_summaries(&self) -> bool {
        self.engine.holds_summaries()
    }

    /// Reports the calls summed up so far, with whatever else the engine has to say.
    #[napi(catch_unwind)]
    pub fn flush_summaries(&mut self, io: Float64ArraySlice, scratch: BufferSlice) -> f64 {
        self.step(io, scratch, |_, _| {})
    }

    /// Whether the server's socket has read anything.
    #[napi(getter)]
    pub fn server_spoke(&self) -> bool {
        self.link.as_ref().is_some_and(|link| link.server_spoke)
    }

    /// When the client's socket last read or wrote (performance.now() clock), -1 without sockets.
    #[napi(getter)]
    pub fn client_active_at(&self) -> f64 {
        self.link
            .as_ref()
            .map_or(-1.0, |link| link.client_active_at)
    }

    /// Bytes the client sent (changed in place: the output refers to them).
    #[napi(catch_unwind)]
    pub fn client_bytes(
        &mut self,
        mut chunk: BufferSlice,
        now: f64,
        epoch: u32,
        io: Float64ArraySlice,
        scratch: BufferSlice,
    ) -> f64 {
        self.tells_peeking = true;
        self.begin();
        self.engine.set_epoch(epoch);
        self.engine.client_bytes(&mut chunk, now, &mut self.out);
        self.stepped(&chunk, false);
        self.finish(io, scratch)
    }

    /// Bytes the server sent (changed in place: the output refers to them).
    #[napi(catch_unwind)]
    pub fn server_bytes(
        &mut self,
        mut chunk: BufferSlice,
        now: f64,
        io: Float64ArraySlice,
        scratch: BufferSlice,
    ) -> f64 {
        self.begin();
        self.engine.server_bytes(&mut chunk, now, &mut self.out);
        self.stepped(&chunk, false);
        self.finish(io, scratch)
    }

    /// The output of the last call again (after a call returned the length `io` must have).
    #[napi]
    pub fn output(&mut self, io: Float64ArraySlice, scratch: BufferSlice) -> f64 {
        self.finish(io, scratch)
    }

    /// The scratch of the last call when it did not fit the buffer given.
    #[napi]
    pub fn take_scratch(&mut self) -> Buffer {
        self.spilled.take().unwrap_or_default().into()
    }

    #[napi(catch_unwind)]
    pub fn pin(&mut self, authority: String, io: Float64ArraySlice, scratch: BufferSlice) -> f64 {
        self.step(io, scratch, |engine, out| {
            engine.pin(authority.as_bytes(), out);
        })
    }

    #[napi(catch_unwind)]
    pub fn forward(
        &mut self,
        stream: u32,
        slot: u32,
        cache: bool,
        server_side_known: bool,
        io: Float64ArraySlice,
        scratch: BufferSlice,
    ) -> f64 {
        self.step(io, scratch, |engine, out| {
            engine.forward(stream, slot, cache, server_side_known, out);
        })
    }

    #[napi(catch_unwind)]
    pub fn authenticated(
        &mut self,
        stream: u32,
        principal: String,
        valid_until: f64,
        now: f64,
        io: Float64ArraySlice,
        scratch: BufferSlice,
    ) -> f64 {
        self.step(io, scratch, |engine, out| {
            engine.authenticated(stream, &principal, valid_until, now, out);
        })
    }

    #[napi(catch_unwind)]
    pub fn answer_error(
        &mut self,
        stream: u32,
        status: i32,
        message: String,
        now: f64,
        io: Float64ArraySlice,
        scratch: BufferSlice,
    ) -> f64 {
        self.step(io, scratch, |engine, out| {
            engine.answer_error(stream, status, &message, now, out);
        })
    }

    #[napi(catch_unwind)]
    #[allow(clippy::too_many_arguments)]
    pub fn answer_frames(
        &mut self,
        stream: u32,
        frames: BufferSlice,
        data_bytes: u32,
        status: i32,
        now: f64,
        io: Float64ArraySlice,
        scratch: BufferSlice,
    ) -> f64 {
        self.step(io, scratch, |engine, out| {
            engine.answer_frames(stream, &frames, data_bytes, status, now, out);
        })
    }

    /// The length `io` needs as other calls return it, else -1 when the call is gone (the
    /// client retries it on a new connection) or 0 when the gateway must answer it.
    #[napi(catch_unwind)]
    pub fn send_away(&mut self, stream: u32, io: Float64ArraySlice, scratch: BufferSlice) -> f64 {
        self.begin();
        let gone = self.engine.send_away(stream, &mut self.out);
        self.stepped(&[], false);
        let needed = self.finish(io, scratch);
        if needed > 0.0 {
            // Asked again through `output`; whether the call is gone is the same then.
            self.gone = gone;
            return needed;
        }
        if gone {
            -1.0
        } else {
            0.0
        }
    }

    /// After `send_away` returned a length: whether the call was gone.
    #[napi(getter)]
    pub fn sent_away(&self) -> bool {
        self.gone
    }

    #[napi(catch_unwind)]
    pub fn close(&mut self, reason: String, io: Float64ArraySlice, scratch: BufferSlice) -> f64 {
        self.step(io, scratch, |engine, out| engine.close(&reason, out))
    }

    /// Ends the connection for a fault of the gateway's own.
    #[napi(catch_unwind)]
    pub fn fail(&mut self, detail: String, io: Float64ArraySlice, scratch: BufferSlice) -> f64 {
        self.step(io, scratch, |engine, out| {
            engine.fail(&detail, out);
        })
    }

    #[napi(catch_unwind)]
    pub fn server_gone(
        &mut self,
        reason: String,
        now: f64,
        io: Float64ArraySlice,
        scratch: BufferSlice,
    ) -> f64 {
        self.step(io, scratch, |engine, out| {
            engine.server_gone(&reason, now, out);
        })
    }

    #[napi(catch_unwind)]
    pub fn client_closed(&mut self, now: f64, io: Float64ArraySlice, scratch: BufferSlice) -> f64 {
        self.step(io, scratch, |engine, _| engine.client_closed(now))
    }

    #[napi(catch_unwind)]
    pub fn expire(
        &mut self,
        timeout_ms: f64,
        now: f64,
        io: Float64ArraySlice,
        scratch: BufferSlice,
    ) -> f64 {
        self.tells_peeking = true;
        self.timer_set = false;
        self.step(io, scratch, |engine, out| {
            engine.expire(timeout_ms, now, out);
        })
    }

    #[napi(getter)]
    pub fn held_bytes(&self) -> f64 {
        self.engine.held_bytes() as f64
    }

    #[napi(getter)]
    pub fn open_calls(&self) -> u32 {
        self.engine.open_calls() as u32
    }

    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.engine.closed()
    }

    /// What the numbers of event `index` of the last call do not say.
    #[napi]
    pub fn event_details(&self, index: u32) -> Result<PinnedEventDetails> {
        let Some(event) = self.events.get(index as usize) else {
            return Err(Error::new(
                Status::InvalidArg,
                format!("no event {index} in the last output"),
            ));
        };
        let mut details = empty_details();
        match event {
            Event::Route(route) => {
                details.path = Some(latin1(&route.path));
                details.principal = Some(route.principal.clone());
                details.session_id.clone_from(&route.session_id);
                details.user_id.clone_from(&route.user_id);
                details.operation_id.clone_from(&route.operation_id);
                details.compressed_message = route.compressed_message.clone().map(Buffer::from);
                details.encoding = route.encoding.as_deref().map(latin1);
            }
            Event::Authenticate {
                authorization,
                path,
                ..
            } => {
                details.path = Some(latin1(path));
                details.authorization = authorization.as_deref().map(latin1);
            }
            Event::Opened { kind, head, .. } => {
                details.kind = Some(
                    match kind {
                        Opened::NotGrpc => "not-grpc",
                        Opened::HealthCheck => "health-check",
                    }
                    .to_owned(),
                );
                details.path = Some(latin1(&head.path));
                details.http_method = Some(latin1(&head.method));
                details.content_type = Some(latin1(&head.content_type));
            }
            Event::Completed(completion) => {
                if !completion.path.is_empty() {
                    details.path = Some(text(&completion.path));
                }
                details.message = Some(text(&completion.message));
                details.fault = completion.fault.map(str::to_owned);
                if let Some(ids) = &completion.ids {
                    details.response_session_id.clone_from(&ids.session_id);
                    details
                        .server_side_session_id
                        .clone_from(&ids.server_side_session_id);
                    details.response_operation_id.clone_from(&ids.operation_id);
                    details.new_session_id.clone_from(&ids.new_session_id);
                }
            }
            Event::Rejected { kind, detail } => {
                details.kind = Some((*kind).to_owned());
                details.message = Some(detail.clone());
            }
            Event::RelayFailed { detail } => details.message = Some(detail.clone()),
            Event::Forwarded { .. } => {}
        }
        Ok(details)
    }
}

impl PinnedEngine {
    /// One call of the engine, its output written into `io` and `scratch`.
    fn step(
        &mut self,
        io: Float64ArraySlice,
        scratch: BufferSlice,
        op: impl FnOnce(&mut Engine, &mut Output),
    ) -> f64 {
        self.begin();
        op(&mut self.engine, &mut self.out);
        self.stepped(&[], false);
        self.finish(io, scratch)
    }

    /// After a step of the engine (`input`: the chunk it read): what `io[5]` is to say, and
    /// with sockets, the output sent and the events taken for `output`. After a read of a
    /// socket (`read`) that JavaScript would hear of only for summaries of calls, they are left
    /// in the engine, where the next reads add to them, and reported within SUMMARIES_DELAY_MS.
    fn stepped(&mut self, input: &[u8], read: bool) {
        // Told only after the calls the gateway sets its timer for first messages after, and only
        // while that timer is not set: finding the oldest looks at every open call, and telling
        // JavaScript of it on every read would call it for nothing.
        self.peeking = if std::mem::take(&mut self.tells_peeking) && !self.timer_set {
            self.engine.oldest_peeking().unwrap_or(-1.0)
        } else {
            -2.0
        };
        self.timer_set |= self.peeking >= 0.0;
        let owner = (self as *mut PinnedEngine).cast::<c_void>();
        let Some(link) = self.link.as_mut() else {
            return;
        };
        link.deliver(&mut self.out, input);
        self.fresh = false;
        self.events.clear();
        self.events.extend(self.engine.take_events());
        self.summaries.clear();
        let told = !self.events.is_empty() || self.engine.closed() || self.peeking >= 0.0;
        let later = read
            && !told
            && self.engine.holds_summaries()
            && link.report_later(owner, SUMMARIES_DELAY_MS, on_summaries_due);
        if !later {
            self.summaries.extend(self.engine.take_summaries());
        }
    }

    /// A socket of the link's is ready (`handle`: its poll handle): what JavaScript is to hear.
    fn ready(
        &mut self,
        handle: *mut c_void,
        status: c_int,
        events: c_int,
    ) -> Option<(Notice, String)> {
        let link = self.link.as_mut()?;
        let client = link.client.as_ref().is_some_and(|socket| socket.is(handle));
        let socket = if client {
            link.client.as_mut()?
        } else {
            link.server.as_mut().filter(|socket| socket.is(handle))?
        };
        if status < 0 {
            // libuv stopped the handle (an error on the socket, such as a reset).
            let failure = socket.failure(status);
            return self.gone(client, failure);
        }
        if events & UV_WRITABLE != 0 {
            socket.flush();
            link.balance();
        }
        if events & UV_READABLE == 0 {
            return None;
        }
        READ_BUFFER.with(|buffer| {
            let mut buffer = buffer.borrow_mut();
            let link = self.link.as_mut()?;
            let socket = if client {
                link.client.as_mut()
            } else {
                link.server.as_mut()
            }?;
            let count = match socket.read(&mut buffer) {
                Ok(0) => return self.gone(client, String::new()),
                Ok(count) => count,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return None,
                Err(error) => return self.gone(client, error.to_string()),
            };
            let now = link.now();
            let chunk = &mut buffer[..count];
            if client {
                if link.ending {
                    return None;
                }
                link.client_active_at = now;
                let epoch = link.epoch();
                self.begin();
                self.tells_peeking = true;
                self.engine.set_epoch(epoch);
                self.engine.client_bytes(chunk, now, &mut self.out);
            } else {
                link.server_spoke = true;
                self.begin();
                self.engine.server_bytes(chunk, now, &mut self.out);
            }
            self.stepped(chunk, true);
            let told = !self.events.is_empty()
                || !self.summaries.is_empty()
                || self.engine.closed()
                || self.peeking >= 0.0;
            told.then(|| (Notice::Step, String::new()))
        })
    }

    /// A socket of the link's read its end or failed.
    fn gone(&mut self, client: bool, detail: String) -> Option<(Notice, String)> {
        let link = self.link.as_mut()?;
        if client {
            link.client = None;
            link.server = None;
            return Some((Notice::ClientGone, detail));
        }
        link.server = None;
        link.balance();
        if link.ending {
            return None;
        }
        Some((Notice::ServerGone, detail))
    }
}

thread_local! {
    /// What a socket of a link reads into; the step's output is sent before the next read.
    static READ_BUFFER: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_BYTES]);
}

/// libuv's callback for a socket of a link: the handle's first word is the engine.
unsafe extern "C" fn on_poll(handle: *mut c_void, status: c_int, events: c_int) {
    // SAFETY: set by `Socket::adopt`; the engine outlives its link's handles, as the link holds
    // the JavaScript callback that holds the engine.
    let owner = unsafe { *handle.cast::<*mut PinnedEngine>() };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: JavaScript does not run while this borrow lives.
        let this = unsafe { &mut *owner };
        let notice = this.ready(handle, status, events)?;
        Some((notice, this.link.as_ref()?.reporter()))
    }));
    // SAFETY: as above.
    unsafe { tell(owner, outcome) };
}

/// libuv's callback for a link's timer of summaries due: the handle's first word is the engine.
unsafe extern "C" fn on_summaries_due(handle: *mut c_void) {
    // SAFETY: set by `Timer::new`; the engine outlives its link's timer as its poll handles.
    let owner = unsafe { *handle.cast::<*mut PinnedEngine>() };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: JavaScript does not run while this borrow lives.
        let this = unsafe { &mut *owner };
        let link = this.link.as_ref()?;
        if link.ending || !this.engine.holds_summaries() {
            return None;
        }
        let reporter = link.reporter();
        // A step of no input: `output` then takes the summaries.
        this.begin();
        this.peeking = -2.0;
        Some(((Notice::Step, String::new()), reporter))
    }));
    // SAFETY: as above.
    unsafe { tell(owner, outcome) };
}

/// Tells JavaScript what a callback of libuv's found (nothing, a notice, or a panic, after
/// which the engine's state is suspect and its sockets go).
///
/// # Safety
/// `owner` is the live engine of a libuv callback, not borrowed.
unsafe fn tell(
    owner: *mut PinnedEngine,
    outcome: std::thread::Result<Option<((Notice, String), Reporter)>>,
) {
    let (notice, detail, reporter) = match outcome {
        Ok(None) => return,
        Ok(Some(((notice, detail), reporter))) => (notice, detail, reporter),
        Err(_) => {
            // SAFETY: per the function's contract.
            let this = unsafe { &mut *owner };
            let Some(link) = this.link.as_mut() else {
                return;
            };
            link.client = None;
            link.server = None;
            let reporter = link.reporter();
            (
                Notice::Fault,
                "the native relay failed".to_owned(),
                reporter,
            )
        }
    };
    // SAFETY: no borrow of the engine is held while JavaScript runs, which may call into it.
    unsafe {
        (*owner).reporting = true;
        reporter.report(notice, &detail);
        let this = &mut *owner;
        this.reporting = false;
        if std::mem::take(&mut this.released)
            || notice != Notice::Step && notice != Notice::ServerGone
        {
            this.link = None;
        }
    }
}

impl PinnedEngine {
    fn begin(&mut self) {
        self.out.clear();
        self.spilled = None;
        self.fresh = true;
    }

    /// Writes the output and the events into `io` (and the scratch into `scratch`), or returns
    /// the length `io` needs.
    fn finish(&mut self, mut io: Float64ArraySlice, mut scratch: BufferSlice) -> f64 {
        // SAFETY: JavaScript does not run while this call does; `io` is not aliased here.
        let io = unsafe { io.as_mut() };
        if self.fresh {
            self.fresh = false;
            self.events.clear();
            self.events.extend(self.engine.take_events());
            self.summaries.clear();
            self.summaries.extend(self.engine.take_summaries());
        }
        let pieces = self.out.client.len() + self.out.server.len();
        let records = self.events.len() + self.summaries.len();
        let durations: usize = self.summaries.iter().map(|s| s.durations_ms.len()).sum();
        let needed = HEAD_WORDS + 2 * pieces + EVENT_WORDS * records + durations;
        if io.len() < needed {
            return needed as f64;
        }
        io[0] = self.out.client.len() as f64;
        io[1] = self.out.server.len() as f64;
        if self.out.scratch.len() <= scratch.len() {
            scratch[..self.out.scratch.len()].copy_from_slice(&self.out.scratch);
            io[2] = self.out.scratch.len() as f64;
        } else {
            self.spilled = Some(self.out.scratch.clone());
            io[2] = -1.0;
        }
        io[3] = records as f64;
        io[4] = if self.engine.closed() { 1.0 } else { 0.0 };
        io[5] = self.peeking;
        let mut at = HEAD_WORDS;
        for piece in self.out.client.iter().chain(self.out.server.iter()) {
            let (start, len) = match *piece {
                Piece::Input { start, len } => (start as f64, len),
                Piece::Scratch { start, len } => (-(start as f64) - 1.0, len),
            };
            io[at] = start;
            io[at + 1] = len as f64;
            at += 2;
        }
        for event in &self.events {
            let record = &mut io[at..at + EVENT_WORDS];
            record.fill(0.0);
            match event {
                Event::Forwarded {
                    stream,
                    slot,
                    method,
                } => {
                    record[0] = FORWARDED;
                    record[1] = f64::from(*stream);
                    record[2] = f64::from(*slot);
                    record[3] = method_number(*method);
                }
                Event::Completed(completion) => {
                    record[0] = COMPLETED;
                    record[1] = f64::from(completion.stream);
                    record[2] = f64::from(completion.slot);
                    record[3] = method_number(completion.method);
                    record[4] = f64::from(completion.status);
                    record[5] = completion.duration_ms;
                    record[6] = completion.bytes_in as f64;
                    record[7] = completion.bytes_out as f64;
                    record[8] = if completion.forwarded { 1.0 } else { 0.0 };
                    let plain = completion.message.is_empty()
                        && completion.fault.is_none()
                        && completion.ids.is_none()
                        && completion.path.is_empty();
                    record[9] = if plain { 0.0 } else { 1.0 };
                }
                Event::Route(route) => {
                    record[0] = ROUTE;
                    record[1] = f64::from(route.stream);
                    record[3] = method_number(route.method);
                    record[9] = 1.0;
                }
                Event::Authenticate { stream, method, .. } => {
                    record[0] = AUTHENTICATE;
                    record[1] = f64::from(*stream);
                    record[3] = method_number(*method);
                    record[9] = 1.0;
                }
                Event::Opened { stream, .. } => {
                    record[0] = OPENED;
                    record[1] = f64::from(*stream);
                    record[9] = 1.0;
                }
                Event::Rejected { .. } => {
                    record[0] = REJECTED;
                    record[9] = 1.0;
                }
                Event::RelayFailed { .. } => {
                    record[0] = RELAY_FAILED;
                    record[9] = 1.0;
                }
            }
            at += EVENT_WORDS;
        }
        let mut durations_at = at + EVENT_WORDS * self.summaries.len();
        for summary in &self.summaries {
            let record = &mut io[at..at + EVENT_WORDS];
            let ended = summary.durations_ms.len();
            record[0] = CALLS;
            record[1] = 0.0;
            record[2] = f64::from(summary.slot);
            record[3] = method_number(Some(summary.method));
            record[4] = f64::from(summary.started);
            record[5] = ended as f64;
            record[6] = summary.bytes_in as f64;
            record[7] = summary.bytes_out as f64;
            record[8] = durations_at as f64;
            record[9] = 0.0;
            io[durations_at..durations_at + ended].copy_from_slice(&summary.durations_ms);
            durations_at += ended;
            at += EVENT_WORDS;
        }
        0.0
    }
}

/// How many pinned connections have sockets of the engine's open (`adopt`): for tests to see
/// that every connection closed its sockets.
#[napi]
pub fn pinned_links_open() -> u32 {
    crate::socket_link::links_open()
}

/// The SparkConnectService method names in the order the event records number them (from 1).
#[napi]
pub fn pinned_method_names() -> Vec<&'static str> {
    Method::ALL.iter().map(|method| method.name()).collect()
}
