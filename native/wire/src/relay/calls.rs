//! A call's way through a pinned connection once its first message is readable: the caller's
//! identity, its route (from the cache, or decided by the gateway), its forwarding to the server,
//! and its end — relayed, answered by the relay or the gateway, or cancelled with the connection.
//! The texts of the relay's own answers are the TypeScript relay's.

use crate::grpc_status_text::encode_grpc_message_text;
use crate::hpack::{js_number_text, BlockEncoder};
use crate::mask::SecretMasker;
use crate::scan::response::{response_names_operations, ResponseScan};
use crate::scan::Method;

use super::headers::{encode_upstream_block, is_streaming, HeaderList, UpstreamHeaders};
use super::output::*;
use super::{CachedIdentity, CachedRoute, Completion, Engine, Event, RouteRequest, State, Stream};
use super::{MAX_ID_BYTES, MAX_SPARE_CALLS, MAX_SPARE_HELD_BYTES};

/// The gRPC status of each GatewayError code the relay answers with itself.
fn status_of(code: &str) -> i32 {
    match code {
        "GW_BAD_REQUEST" | "GW_MALFORMED_MESSAGE" => 3,
        "GW_MESSAGE_TOO_LARGE" => 8,
        "GW_PERMISSION_DENIED" => 7,
        "GW_UNIMPLEMENTED" => 12,
        "GW_BACKEND_UNREACHABLE" => 14,
        _ => 13,
    }
}

/// A user id quoted in an error is cut to this many characters.
const QUOTED_ID_CHARS: usize = 64;

fn shortened(id: &str) -> String {
    match id.char_indices().nth(QUOTED_ID_CHARS) {
        Some((at, _)) => format!("{}…", &id[..at]),
        None => id.to_owned(),
    }
}

impl Stream {
    /// Makes a finished call's box a new call, keeping the buffers it grew.
    pub(super) fn reuse(
        &mut self,
        client_id: u32,
        method: Option<crate::scan::Method>,
        path: Vec<u8>,
        headers: super::headers::HeaderList,
        end_stream: bool,
        now: f64,
    ) {
        self.client_id = client_id;
        self.upstream_id = 0;
        self.state = State::Peeking;
        self.method = method;
        self.path = path;
        self.headers = headers;
        self.held.clear();
        self.held_frames.clear();
        self.held_data_bytes = 0;
        self.key.clear();
        self.slot = 0;
        self.principal.clear();
        self.masker = None;
        self.response_scan = None;
        self.client_ended = end_stream;
        self.response_started = false;
        self.identity_pending = false;
        self.forwarded = false;
        self.summarized = false;
        self.opened_at = now;
        self.bytes_in = 0;
        self.bytes_out = 0;
        self.status = -1;
        self.message.clear();
        self.fault = None;
        self.compressed = None;
        self.compressed_ready = None;
    }

    pub(super) fn hold(&mut self, raw: &[u8]) {
        self.held_frames.push(self.held.len());
        self.held.extend_from_slice(raw);
    }

    /// The first message is compressed: its request bytes are gathered for the gateway.
    pub(super) fn add_compressed(&mut self, payload: &[u8]) {
        self.compressed
            .get_or_insert_with(Vec::new)
            .extend_from_slice(payload);
    }

    /// The compressed first message, with its gRPC prefix, once all of it arrived.
    pub(super) fn compressed_first_message(&mut self) -> Option<Vec<u8>> {
        let bytes = self.compressed.as_ref()?;
        if bytes.len() < 5 {
            return None;
        }
        let length = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize;
        if bytes.len() < 5 + length {
            return None;
        }
        let message = bytes[..5 + length].to_vec();
        self.compressed = None;
        Some(message)
    }

    fn method_name(&self) -> String {
        match self.method {
            Some(method) => method.name().to_owned(),
            None => {
                let path = String::from_utf8_lossy(&self.path);
                match super::headers::method_path(&self.path) {
                    Some((_, name)) => String::from_utf8_lossy(name).into_owned(),
                    None => path.into_owned(),
                }
            }
        }
    }
}

impl Engine {
    /// The call's first message can be routed by: the caller is authenticated (once per
    /// credential), then the call goes to the server if its session's route is cached, else
    /// to the gateway.
    pub(super) fn route(&mut self, stream_id: u32, out: &mut Output) {
        let Some(stream) = self.streams.get_mut(&stream_id) else {
            return;
        };
        stream.state = State::Routing;
        if !self.config.authenticating {
            self.route_as(stream_id, String::new(), out);
            return;
        }
        let authorization = stream.headers.get(b"authorization").map(<[u8]>::to_vec);
        let credential = authorization.clone().unwrap_or_default();
        match self.identities.get(&credential) {
            Some(known) if known.valid_until > self.now => {
                let principal = known.principal.clone();
                self.route_as(stream_id, principal, out);
            }
            _ => {
                let (method, path) = (stream.method, stream.path.clone());
                self.events.push(Event::Authenticate {
                    stream: stream_id,
                    method,
                    path,
                    authorization,
                });
            }
        }
    }

    /// Ends the connection for a fault of the gateway's own (INTERNAL_ERROR).
    pub fn fail(&mut self, detail: &str, out: &mut Output) {
        self.fail_connection(INTERNAL_ERROR, "relay-failed", detail, out);
    }

    /// The gateway verified the call's credentials as `principal`, good until `valid_until`.
    pub fn authenticated(
        &mut self,
        stream_id: u32,
        principal: &str,
        valid_until: f64,
        now: f64,
        out: &mut Output,
    ) {
        self.now = now;
        let Some(stream) = self.streams.get(&stream_id) else {
            return;
        };
        if stream.state != State::Routing {
            return;
        }
        let credential = stream
            .headers
            .get(b"authorization")
            .unwrap_or_default()
            .to_vec();
        self.identities.insert(
            credential,
            CachedIdentity {
                principal: principal.to_owned(),
                valid_until,
            },
        );
        self.route_as(stream_id, principal.to_owned(), out);
    }

    fn route_as(&mut self, stream_id: u32, principal: String, out: &mut Output) {
        let Some(stream) = self.streams.get_mut(&stream_id) else {
            return;
        };
        stream.principal = principal;
        if let Some(message) = stream.compressed_ready.take() {
            // Inflated and read by the gateway, which checks the caller's identity too.
            let encoding = stream.headers.get(b"grpc-encoding").map(<[u8]>::to_vec);
            self.events.push(Event::Route(RouteRequest {
                stream: stream_id,
                method: stream.method,
                path: stream.path.clone(),
                principal: stream.principal.clone(),
                session_id: None,
                user_id: None,
                operation_id: None,
                compressed_message: Some(message),
                encoding,
            }));
            return;
        }
        let checks_identity = self.config.rewrite_user_id && !stream.principal.is_empty();
        // Read with the fields borrowed; ids are copied out only for a call the gateway decides.
        let decision = {
            let stream: &Stream = stream;
            match stream.peek.routing_fields() {
                Err(error) => Decision::Fault(error.code.as_str(), error.message),
                Ok(fields) => {
                    let user_id = fields.user_id.as_deref();
                    match checks_identity
                        .then(|| identity_mismatch(stream, user_id))
                        .flatten()
                    {
                        Some(message) => Decision::Fault("GW_PERMISSION_DENIED", message),
                        None => {
                            let effective_user = if checks_identity {
                                stream.principal.as_str()
                            } else {
                                user_id.unwrap_or("")
                            };
                            let session = fields.session_id.unwrap_or("");
                            let key = &mut self.key;
                            key.clear();
                            // The gateway's own checks (no session id, ids too long, a plugin's
                            // method) and every session it has not routed here yet are its to
                            // decide.
                            if stream.method.is_some()
                                && !session.is_empty()
                                && session.len() <= MAX_ID_BYTES
                                && effective_user.len() <= MAX_ID_BYTES
                            {
                                key.extend_from_slice(stream.principal.as_bytes());
                                key.push(0x1f);
                                key.extend_from_slice(effective_user.as_bytes());
                                key.push(0x1f);
                                key.extend_from_slice(session.as_bytes());
                            }
                            match self.routes.get(key.as_slice()) {
                                Some(cached) if !key.is_empty() => {
                                    Decision::Cached(cached.slot, cached.server_side_known)
                                }
                                _ => Decision::Ask {
                                    session_id: fields.session_id.map(str::to_owned),
                                    user_id: user_id.map(str::to_owned),
                                    operation_id: fields.operation_id.map(str::to_owned),
                                },
                            }
                        }
                    }
                }
            }
        };
        let (session_id, user_id, operation_id) = match decision {
            Decision::Fault(code, message) => {
                self.answer_fault(stream_id, code, message, out);
                return;
            }
            Decision::Cached(slot, server_side_known) => {
                if checks_identity {
                    // A large first message is routed before its end: a user_context further on
                    // would change the user id the server reads, so the rest is checked as it
                    // arrives.
                    stream.identity_pending = !stream.peek.first_message_done();
                }
                stream.key.clone_from(&self.key);
                let method = stream.method;
                let summarized = self.config.summarize_plain_calls
                    && method.is_some_and(|method| {
                        !is_streaming(method) && method != Method::ReleaseSession
                    });
                stream.summarized = summarized;
                self.forward_call(stream_id, slot, server_side_known, out);
                match method {
                    Some(method) if summarized => self.summary(slot, method).started += 1,
                    _ => self.events.push(Event::Forwarded {
                        stream: stream_id,
                        slot,
                        method,
                    }),
                }
                return;
            }
            Decision::Ask {
                session_id,
                user_id,
                operation_id,
            } => (session_id, user_id, operation_id),
        };
        if checks_identity {
            stream.identity_pending = !stream.peek.first_message_done();
        }
        stream.key.clone_from(&self.key);
        self.events.push(Event::Route(RouteRequest {
            stream: stream_id,
            method: stream.method,
            path: stream.path.clone(),
            principal: stream.principal.clone(),
            session_id,
            user_id,
            operation_id,
            compressed_message: None,
            encoding: None,
        }));
    }

    /// The rest of a first message routed early has arrived: its user id is checked again.
    /// True when the call was refused for it.
    pub(super) fn identity_fault(&mut self, stream_id: u32, out: &mut Output) -> bool {
        let Some(stream) = self.streams.get(&stream_id) else {
            return false;
        };
        let user_id = match stream.peek.routing_fields() {
            Ok(fields) => fields.user_id.as_deref().map(str::to_owned),
            Err(error) => {
                self.answer_fault(stream_id, error.code.as_str(), error.message, out);
                return true;
            }
        };
        match identity_mismatch(stream, user_id.as_deref()) {
            Some(message) => {
                self.answer_fault(stream_id, "GW_PERMISSION_DENIED", message, out);
                true
            }
            None => false,
        }
    }

    /// The gateway routed the call to this connection's server, its session in `slot`.
    /// `cache`: later calls of the session go without asking (the session is bound); then
    /// `server_side_known` says the server-side session id is on record.
    pub fn forward(
        &mut self,
        stream_id: u32,
        slot: u32,
        cache: bool,
        server_side_known: bool,
        out: &mut Output,
    ) {
        let Some(stream) = self.streams.get(&stream_id) else {
            return;
        };
        if stream.state != State::Routing || self.authority.is_none() {
            return;
        }
        if cache && !stream.key.is_empty() {
            self.routes.insert(
                stream.key.clone(),
                CachedRoute {
                    slot,
                    server_side_known,
                },
            );
        }
        self.forward_call(stream_id, slot, server_side_known, out);
    }

    fn forward_call(
        &mut self,
        stream_id: u32,
        slot: u32,
        server_side_known: bool,
        out: &mut Output,
    ) {
        let Some(stream) = self.streams.get_mut(&stream_id) else {
            return;
        };
        let Some(authority) = self.authority.as_deref() else {
            return;
        };
        stream.state = State::Upstream;
        stream.slot = slot;
        stream.forwarded = true;
        stream.upstream_id = self.next_upstream_id;
        self.next_upstream_id += 2;
        self.by_upstream_id.insert(stream.upstream_id, stream_id);
        self.last_forwarded_client_id = self.last_forwarded_client_id.max(stream_id);
        stream.response_scan = match stream.method {
            Some(method) if !server_side_known || response_names_operations(method) => {
                Some(Box::new(ResponseScan::new(method)))
            }
            _ => None,
        };
        if let Some(token) = &self.config.backend_token {
            stream.masker = Some(Box::new(SecretMasker::new(token)));
        }
        let how = UpstreamHeaders {
            authority,
            authenticated: self.config.authenticating,
            backend_token: self.config.backend_token.as_deref(),
        };
        let encoder = &mut self.encoder;
        let same = self.encoded_for.as_ref().is_some_and(|(headers, changes)| {
            *changes == encoder.changes() && *headers == stream.headers
        });
        if !same {
            let before = encoder.changes();
            encode_upstream_block(encoder, &stream.headers, &stream.path, &how);
            if encoder.changes() == before {
                let (headers, changes) = self
                    .encoded_for
                    .get_or_insert_with(|| (HeaderList::default(), 0));
                headers.clone_from(&stream.headers);
                *changes = before;
            } else {
                self.encoded_for = None;
            }
        }
        out.header_frames(
            Side::Server,
            stream.upstream_id,
            encoder.block(),
            false,
            crate::frames::DEFAULT_MAX_FRAME_PAYLOAD as usize,
        );
        let (starts, held) = (&stream.held_frames, &stream.held);
        for (index, &at) in starts.iter().enumerate() {
            let end = starts.get(index + 1).copied().unwrap_or(held.len());
            out.frame_as(Side::Server, &held[at..end], stream.upstream_id);
        }
        self.held_bytes -= held.len();
        stream.held.clear();
        stream.held_frames.clear();
        stream.held_data_bytes = 0;
    }

    /// The connection has a server now (`authority` is its id): the client's preface and the
    /// frames it sent for the server so far go to it.
    pub fn pin(&mut self, authority: &[u8], out: &mut Output) {
        if self.authority.is_some() {
            return;
        }
        self.authority = Some(authority.to_vec());
        out.bytes(Side::Server, CLIENT_PREFACE);
        let before = std::mem::take(&mut self.before_pin);
        out.bytes(Side::Server, &before);
    }

    /// The gateway's answer to a call: an error status with its (plain) message.
    pub fn answer_error(
        &mut self,
        stream_id: u32,
        status: i32,
        message: &str,
        now: f64,
        out: &mut Output,
    ) {
        self.now = now;
        self.answer_status(stream_id, status, message.as_bytes().to_vec(), None, out);
    }

    /// The gateway's answer to a call as frames of its own (a message with OK, an HTTP answer),
    /// `data_bytes` of them DATA the client's windows lose.
    pub fn answer_frames(
        &mut self,
        stream_id: u32,
        frames: &[u8],
        data_bytes: u32,
        status: i32,
        now: f64,
        out: &mut Output,
    ) {
        self.now = now;
        let Some(stream) = self.streams.get_mut(&stream_id) else {
            return;
        };
        stream.status = status;
        self.injected += u64::from(data_bytes);
        self.answer(stream_id, |out| out.bytes(Side::Client, frames), out);
    }

    /// The relay refuses a call itself: a GatewayError `code` and its text.
    pub(super) fn answer_fault(
        &mut self,
        stream_id: u32,
        code: &'static str,
        message: String,
        out: &mut Output,
    ) {
        self.answer_status(
            stream_id,
            status_of(code),
            message.into_bytes(),
            Some(code),
            out,
        );
    }

    fn answer_status(
        &mut self,
        stream_id: u32,
        status: i32,
        message: Vec<u8>,
        fault: Option<&'static str>,
        out: &mut Output,
    ) {
        let Some(stream) = self.streams.get_mut(&stream_id) else {
            return;
        };
        let mut block = BlockEncoder::new();
        if !stream.response_started {
            block.push(b":status", b"200");
            block.push(b"content-type", b"application/grpc");
        }
        block.push(b"grpc-status", status.to_string().as_bytes());
        if !message.is_empty() {
            block.push(b"grpc-message", &encode_grpc_message_text(&message));
        }
        stream.status = status;
        stream.message = message;
        stream.fault = fault;
        let client_id = stream.client_id;
        self.answer(
            stream_id,
            |out| {
                let max = crate::frames::DEFAULT_MAX_FRAME_PAYLOAD as usize;
                out.header_frames(Side::Client, client_id, block.block(), true, max);
            },
            out,
        );
    }

    /// Ends a call with the gateway's own frames, in whatever state it is.
    fn answer(&mut self, stream_id: u32, frames: impl FnOnce(&mut Output), out: &mut Output) {
        let Some(stream) = self.streams.get(&stream_id) else {
            return;
        };
        if stream.state == State::Upstream {
            out.rst_stream(Side::Server, stream.upstream_id, CANCEL);
        }
        out.window_update(Side::Client, 0, stream.held_data_bytes);
        let client_ended = stream.client_ended;
        let Some(stream) = self.drop_stream(stream_id, out) else {
            return;
        };
        frames(out);
        // RFC 9113 §8.1: a complete answer to a request still being sent ends it with NO_ERROR.
        if !client_ended {
            out.rst_stream(Side::Client, stream_id, NO_ERROR);
        }
        self.complete(stream);
        self.maybe_end();
    }

    /// The call's session lives on another server: the connection goes away (calls above the
    /// last one the server took are retried by the client on a new connection). True when the
    /// call was one of those and is gone; false when the gateway must answer it.
    pub fn send_away(&mut self, stream_id: u32, out: &mut Output) -> bool {
        let Some(stream) = self.streams.get(&stream_id) else {
            return true;
        };
        let last = stream
            .client_id
            .saturating_sub(2)
            .max(self.last_forwarded_client_id);
        let held = stream.held_data_bytes;
        self.go_away(
            last,
            "this connection carries sessions of more than one Spark Connect server; reconnect",
            out,
        );
        if self.goaway_last.is_some_and(|last| stream_id > last) {
            // Never processed: the client's gRPC library retries it on a new connection.
            out.window_update(Side::Client, 0, held);
            self.drop_stream(stream_id, out);
            self.maybe_end();
            return true;
        }
        false
    }

    /// GOAWAY to the client, once: calls above `last` were not taken.
    pub fn go_away(&mut self, last: u32, reason: &str, out: &mut Output) {
        if self.goaway_last.is_none() {
            self.goaway_last = Some(last);
            out.goaway(Side::Client, last, NO_ERROR, reason);
        }
        self.maybe_end();
    }

    /// The gateway closes: calls in progress finish, new ones go elsewhere.
    pub fn close(&mut self, reason: &str, out: &mut Output) {
        self.go_away(self.last_client_id, reason, out);
    }

    /// The server's connection is gone (`reason` says how): calls at it are answered.
    pub fn server_gone(&mut self, reason: &str, now: f64, out: &mut Output) {
        self.now = now;
        if self.closed {
            return;
        }
        let mut at_server: Vec<u32> = self
            .streams
            .values()
            .filter(|stream| stream.state == State::Upstream)
            .map(|stream| stream.client_id)
            .collect();
        at_server.sort_unstable();
        for stream_id in at_server {
            let message = format!("{reason}; retry the call");
            self.answer_fault(stream_id, "GW_BACKEND_UNREACHABLE", message, out);
        }
        self.go_away(self.last_client_id, reason, out);
    }

    /// The client's connection is gone: every call still open is cancelled.
    pub fn client_closed(&mut self, now: f64) {
        self.now = now;
        self.cancel_all("the client closed the connection");
        self.closed = true;
    }

    /// Calls still without a complete first message after `timeout_ms` are answered.
    pub fn expire(&mut self, timeout_ms: f64, now: f64, out: &mut Output) {
        self.now = now;
        let mut late: Vec<u32> = self
            .streams
            .values()
            .filter(|stream| stream.state == State::Peeking && now - stream.opened_at >= timeout_ms)
            .map(|stream| stream.client_id)
            .collect();
        late.sort_unstable();
        for stream_id in late {
            let message = format!(
                "no complete request message arrived within {} ms",
                js_number_text(timeout_ms)
            );
            self.answer_fault(stream_id, "GW_BAD_REQUEST", message, out);
        }
    }

    /// Ends the connection with an HTTP/2 error: GOAWAY, every call cancelled.
    pub(super) fn fail_connection(
        &mut self,
        code: u32,
        kind: &'static str,
        detail: &str,
        out: &mut Output,
    ) {
        if self.closed {
            return;
        }
        self.events.push(Event::Rejected {
            kind,
            detail: detail.to_owned(),
        });
        out.goaway(Side::Client, self.last_client_id, code, detail);
        self.cancel_all(&format!("the connection was closed: {detail}"));
        self.closed = true;
    }

    /// Every call still open ends with the connection; one without a status was cancelled.
    fn cancel_all(&mut self, message: &str) {
        let mut open: Vec<u32> = self.streams.keys().copied().collect();
        open.sort_unstable();
        let mut discard = Output::default();
        for stream_id in open {
            if let Some(stream) = self.streams.get_mut(&stream_id) {
                if stream.status == -1 {
                    stream.status = 1;
                    stream.message = message.as_bytes().to_vec();
                }
            }
            if let Some(stream) = self.drop_stream(stream_id, &mut discard) {
                self.complete(stream);
            }
        }
    }

    pub(super) fn maybe_end(&mut self) {
        if self.goaway_last.is_some() && self.streams.is_empty() {
            self.closed = true;
        }
    }

    /// Forgets the call (its frames are no longer relayed); returns it for its completion.
    pub(super) fn drop_stream(&mut self, stream_id: u32, out: &mut Output) -> Option<Box<Stream>> {
        let mut stream = self.streams.remove(&stream_id)?;
        if stream.upstream_id != 0 {
            self.by_upstream_id.remove(&stream.upstream_id);
        }
        self.held_bytes -= stream.held.len();
        stream.held.clear();
        stream.held_frames.clear();
        // Response bytes the masker held back never reach the client, which so never gives the
        // server the credit for them.
        if let Some(masker) = stream.masker.take() {
            out.window_update(Side::Server, 0, masker.held_bytes() as u32);
        }
        Some(stream)
    }

    /// Drops the call and records its end.
    pub(super) fn finish(&mut self, stream_id: u32, out: &mut Output) {
        if let Some(stream) = self.drop_stream(stream_id, out) {
            self.complete(stream);
        }
    }

    pub(super) fn complete(&mut self, stream: Box<Stream>) {
        let ids = stream
            .response_scan
            .as_ref()
            .and_then(|scan| scan.ids().cloned());
        if let Some(ids) = &ids {
            let known = ids
                .server_side_session_id
                .as_deref()
                .is_some_and(|id| !id.is_empty());
            if known {
                if let Some(cached) = self.routes.get_mut(&stream.key) {
                    cached.server_side_known = true;
                }
            }
        }
        let mut stream = stream;
        match stream.method {
            Some(method)
                if stream.summarized
                    && stream.status == 0
                    && stream.message.is_empty()
                    && stream.fault.is_none()
                    && ids.is_none() =>
            {
                let duration_ms = self.now - stream.opened_at;
                let summary = self.summary(stream.slot, method);
                summary.durations_ms.push(duration_ms);
                summary.bytes_in += stream.bytes_in;
                summary.bytes_out += stream.bytes_out;
                self.keep_spare(stream);
                return;
            }
            _ => {}
        }
        let path = if stream.method.is_none() {
            stream.method_name().into_bytes()
        } else {
            Vec::new()
        };
        let message = std::mem::take(&mut stream.message);
        self.events.push(Event::Completed(Completion {
            stream: stream.client_id,
            slot: stream.slot,
            method: stream.method,
            path,
            status: stream.status,
            message,
            fault: stream.fault,
            duration_ms: self.now - stream.opened_at,
            bytes_in: stream.bytes_in,
            bytes_out: stream.bytes_out,
            forwarded: stream.forwarded,
            ids,
        }));
        self.keep_spare(stream);
    }

    /// A finished call's box (and its header list) kept for a new call to reuse.
    fn keep_spare(&mut self, mut stream: Box<Stream>) {
        let small = stream.held.capacity() <= MAX_SPARE_HELD_BYTES
            && stream.message.capacity() <= MAX_SPARE_HELD_BYTES;
        if small && self.spare.len() < MAX_SPARE_CALLS {
            let mut headers = std::mem::take(&mut stream.headers);
            headers.clear();
            if self.spare_headers.len() < MAX_SPARE_CALLS {
                self.spare_headers.push(headers);
            }
            self.spare.push(stream);
        }
    }
}

/// The refusal of a call whose user id is not the caller's verified identity, when the gateway
/// holds the two to be the same; None when they are.
fn identity_mismatch(stream: &Stream, user_id: Option<&str>) -> Option<String> {
    let principal = &stream.principal;
    // A plugin's method without a user_context is routed with the connection's last session.
    if user_id == Some(principal.as_str()) || (user_id.is_none() && stream.method.is_none()) {
        return None;
    }
    let named = match user_id {
        None => "no user_id".to_owned(),
        Some(id) => format!("user_id \"{}\"", shortened(id)),
    };
    Some(format!(
        "the {} request names {named} but the caller authenticated as \"{principal}\"; \
         this gateway relays connections pinned (--relay pinned) and passes requests through unchanged, so set the client's user id to its identity: \
         sc://HOST:PORT/;token=TOKEN;user_id={principal} (PySpark), or run the gateway with --relay terminate, which sets it for the client",
        stream.method_name()
    ))
}

/// What the routing fields of a call decide, read while they are borrowed from the call.
enum Decision {
    Fault(&'static str, String),
    Cached(u32, bool),
    Ask {
        session_id: Option<String>,
        user_id: Option<String>,
        operation_id: Option<String>,
    },
}
