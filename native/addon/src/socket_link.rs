//! The two sockets of a pinned connection, read and written by the addon itself on Node's event
//! loop (libuv poll handles on duplicates of the sockets' descriptors). Node accepts the client
//! and connects to the server; once a socket is handed over, each read goes straight into the
//! engine and its output straight to the sockets, and JavaScript hears only of what the gateway
//! decides or records: the engine's events, a socket gone.
//!
//! A socket whose unsent bytes pass `MAX_UNSENT_BYTES` stops the other from being read until it
//! has written them all, as the TypeScript relay's back-pressure does.

use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void};
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::ptr;

use napi::sys;
use sparkplane_wire::relay::{Output, Piece};

const UV_POLL: c_int = 8;
const UV_TIMER: c_int = 13;
pub const UV_READABLE: c_int = 1;
pub const UV_WRITABLE: c_int = 2;

const MAX_UNSENT_BYTES: usize = 1024 * 1024;
/// The most one read takes from a socket.
pub const READ_BYTES: usize = 256 * 1024;
/// A socket's buffer of unsent bytes beyond this is given back once it has drained.
const KEPT_UNSENT_CAPACITY: usize = 256 * 1024;
/// Slices one write takes (Linux's IOV_MAX is 1024).
const MAX_SLICES: usize = 512;

thread_local! {
    /// Links alive (on Node's main thread, the only one that makes them).
    static LINKS_OPEN: Cell<u32> = const { Cell::new(0) };
}

/// How many pinned connections have sockets of the engine's open.
pub fn links_open() -> u32 {
    LINKS_OPEN.with(Cell::get)
}

pub type PollCallback = unsafe extern "C" fn(handle: *mut c_void, status: c_int, events: c_int);
pub type TimerCallback = unsafe extern "C" fn(handle: *mut c_void);

extern "C" {
    fn uv_poll_init(event_loop: *mut c_void, handle: *mut c_void, fd: c_int) -> c_int;
    fn uv_poll_start(handle: *mut c_void, events: c_int, callback: PollCallback) -> c_int;
    fn uv_poll_stop(handle: *mut c_void) -> c_int;
    fn uv_timer_init(event_loop: *mut c_void, handle: *mut c_void) -> c_int;
    fn uv_timer_start(
        handle: *mut c_void,
        callback: TimerCallback,
        timeout: u64,
        repeat: u64,
    ) -> c_int;
    fn uv_unref(handle: *mut c_void);
    fn uv_is_active(handle: *const c_void) -> c_int;
    fn uv_close(handle: *mut c_void, callback: Option<unsafe extern "C" fn(*mut c_void)>);
    fn uv_handle_size(kind: c_int) -> usize;
    fn uv_hrtime() -> u64;
    fn uv_strerror(error: c_int) -> *const c_char;
}

/// The size of every handle made here, poll or timer, in u64 words.
fn handle_words() -> usize {
    // SAFETY: pure functions of libuv's.
    let bytes = unsafe { uv_handle_size(UV_POLL).max(uv_handle_size(UV_TIMER)) };
    bytes.div_ceil(8)
}

/// A zeroed allocation for a libuv handle whose first word, its `data`, is `owner`.
fn new_handle(owner: *mut c_void) -> *mut c_void {
    let mut memory = vec![0u64; handle_words()].into_boxed_slice();
    memory[0] = owner as u64;
    Box::into_raw(memory).cast::<c_void>()
}

unsafe extern "C" fn free_handle(handle: *mut c_void) {
    let words = handle_words();
    // SAFETY: allocated by `new_handle` as a boxed slice of `words` u64s.
    drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(handle.cast::<u64>(), words)) });
}

fn uv_error(code: c_int) -> io::Error {
    // SAFETY: libuv's static message for a libuv error code.
    let text = unsafe { std::ffi::CStr::from_ptr(uv_strerror(code)) };
    io::Error::other(text.to_string_lossy().into_owned())
}

/// One socket: its descriptor (a duplicate of Node's, which Node then closes), its poll handle
/// and the bytes it could not write yet.
pub struct Socket {
    stream: TcpStream,
    poll: *mut c_void,
    callback: PollCallback,
    unsent: Vec<u8>,
    sent: usize,
    /// The events the poll handle watches.
    watching: c_int,
    /// Not read while the other socket holds too much unsent.
    pub held: bool,
    /// A write failed: bytes for it are dropped, and a read will tell why.
    broken: bool,
    /// Its sending side is shut once everything is written.
    shutting: bool,
}

impl Socket {
    /// Watches a duplicate of `fd`, calling `callback` with a handle whose first word is `owner`.
    pub fn adopt(
        event_loop: *mut c_void,
        fd: RawFd,
        owner: *mut c_void,
        callback: PollCallback,
    ) -> io::Result<Socket> {
        // SAFETY: `fd` is an open socket of Node's, which stays open for this call.
        let owned = unsafe { BorrowedFd::borrow_raw(fd) }.try_clone_to_owned()?;
        let stream = TcpStream::from(owned);
        stream.set_nonblocking(true)?;
        let poll = new_handle(owner);
        // SAFETY: `poll` is a uv_poll_t-sized allocation; libuv initialises it but for its first
        // field, `data`, which is the user's.
        let status = unsafe { uv_poll_init(event_loop, poll, stream.as_raw_fd()) };
        if status != 0 {
            // SAFETY: never initialised, so libuv does not hold it.
            unsafe { free_handle(poll) };
            return Err(uv_error(status));
        }
        Ok(Socket {
            stream,
            poll,
            callback,
            unsent: Vec::new(),
            sent: 0,
            watching: 0,
            held: false,
            broken: false,
            shutting: false,
        })
    }

    pub fn is(&self, handle: *mut c_void) -> bool {
        self.poll == handle
    }

    pub fn backlog(&self) -> usize {
        self.unsent.len() - self.sent
    }

    /// Why libuv reported the socket failed (`status`, a libuv error): the socket's own error
    /// when it has one (a reset, say), else libuv's.
    pub fn failure(&self, status: c_int) -> String {
        match self.stream.take_error() {
            Ok(Some(error)) => error.to_string(),
            _ => uv_error(status).to_string(),
        }
    }

    /// Reads what is there: Ok(0) at the peer's end, WouldBlock when nothing is.
    pub fn read(&mut self, into: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.stream.read(into) {
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }

    /// Writes `slices` in order after anything still unsent; keeps what the socket does not take.
    pub fn send(&mut self, slices: &[&[u8]]) {
        if self.broken || slices.is_empty() {
            return;
        }
        if self.backlog() > 0 {
            for slice in slices {
                self.unsent.extend_from_slice(slice);
            }
            return;
        }
        let total: usize = slices.iter().map(|slice| slice.len()).sum();
        let mut written = 0;
        while written < total {
            let result = if slices.len() == 1 {
                self.stream.write(&slices[0][written..])
            } else {
                self.stream.write_vectored(&remaining(slices, written))
            };
            match result {
                Ok(0) => break,
                Ok(count) => written += count,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.broken = true;
                    return;
                }
            }
        }
        if written == total {
            self.shut_if_sent();
        } else {
            self.unsent.clear();
            self.sent = 0;
            let mut skip = written;
            for slice in slices {
                if skip >= slice.len() {
                    skip -= slice.len();
                    continue;
                }
                self.unsent.extend_from_slice(&slice[skip..]);
                skip = 0;
            }
        }
    }

    /// Writes what is unsent, as far as the socket takes it.
    pub fn flush(&mut self) {
        while self.sent < self.unsent.len() && !self.broken {
            match self.stream.write(&self.unsent[self.sent..]) {
                Ok(0) => break,
                Ok(count) => self.sent += count,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => self.broken = true,
            }
        }
        if self.sent >= self.unsent.len() || self.broken {
            self.unsent.clear();
            self.sent = 0;
            if self.unsent.capacity() > KEPT_UNSENT_CAPACITY {
                self.unsent.shrink_to(KEPT_UNSENT_CAPACITY);
            }
            self.shut_if_sent();
        }
    }

    /// Shuts the sending side once everything is written.
    pub fn shut_when_sent(&mut self) {
        self.shutting = true;
        self.shut_if_sent();
    }

    fn shut_if_sent(&mut self) {
        if self.shutting && self.backlog() == 0 {
            let _ = self.stream.shutdown(Shutdown::Write);
        }
    }

    /// Has the poll handle watch what the socket needs now.
    pub fn watch(&mut self) {
        let mut events = 0;
        // A broken socket is read so that its error is seen.
        if !self.held || self.broken {
            events |= UV_READABLE;
        }
        if self.backlog() > 0 && !self.broken {
            events |= UV_WRITABLE;
        }
        if events == self.watching {
            return;
        }
        self.watching = events;
        // SAFETY: `poll` is an initialised poll handle not yet closed.
        unsafe {
            if events == 0 {
                uv_poll_stop(self.poll);
            } else {
                uv_poll_start(self.poll, events, self.callback);
            }
        }
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // SAFETY: closing stops the handle at once (no more callbacks) and frees it afterwards;
        // the descriptor, closed when `stream` drops next, is no longer polled.
        unsafe { uv_close(self.poll, Some(free_handle)) };
    }
}

/// A one-shot timer on the event loop, calling back with a handle whose first word is its owner
/// (as a socket's poll handle does). It does not keep the loop alive.
pub struct Timer {
    handle: *mut c_void,
}

impl Timer {
    pub fn new(event_loop: *mut c_void, owner: *mut c_void) -> io::Result<Timer> {
        let handle = new_handle(owner);
        // SAFETY: `handle` is a uv_timer_t-sized allocation; libuv initialises it but for its
        // first field, `data`.
        let status = unsafe { uv_timer_init(event_loop, handle) };
        if status != 0 {
            // SAFETY: never initialised, so libuv does not hold it.
            unsafe { free_handle(handle) };
            return Err(uv_error(status));
        }
        // SAFETY: an initialised handle.
        unsafe { uv_unref(handle) };
        Ok(Timer { handle })
    }

    /// Calls `callback` in `ms` milliseconds, unless it is set to already (libuv counts a
    /// one-shot timer inactive from the moment its callback is called).
    pub fn start(&mut self, ms: u64, callback: TimerCallback) {
        // SAFETY: an initialised handle not yet closed; starting it cannot fail.
        unsafe {
            if uv_is_active(self.handle) == 0 {
                uv_timer_start(self.handle, callback, ms, 0);
            }
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        // SAFETY: closing stops the timer at once (no more callbacks) and frees it afterwards.
        unsafe { uv_close(self.handle, Some(free_handle)) };
    }
}

/// `slices` from byte `skip` on, at most MAX_SLICES of them.
fn remaining<'a>(slices: &[&'a [u8]], mut skip: usize) -> Vec<IoSlice<'a>> {
    let mut out = Vec::with_capacity(slices.len().min(MAX_SLICES));
    for slice in slices {
        if skip >= slice.len() {
            skip -= slice.len();
            continue;
        }
        out.push(IoSlice::new(&slice[skip..]));
        skip = 0;
        if out.len() == MAX_SLICES {
            break;
        }
    }
    out
}

/// The pieces of one side of `out` as byte slices (`input`: the chunk the step read).
fn slices<'a>(pieces: &[Piece], input: &'a [u8], scratch: &'a [u8]) -> Vec<&'a [u8]> {
    pieces
        .iter()
        .filter_map(|piece| match *piece {
            Piece::Input { start, len } => input.get(start..start + len),
            Piece::Scratch { start, len } => scratch.get(start..start + len),
        })
        .collect()
}

/// What JavaScript is told of: the output of a step to fetch, or a socket gone.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Notice {
    Step = 0,
    ClientGone = 1,
    ServerGone = 2,
    Fault = 3,
}

/// A pinned connection's sockets and the JavaScript it reports to.
pub struct Link {
    env: sys::napi_env,
    callback: sys::napi_ref,
    context: sys::napi_async_context,
    epoch_cell: sys::napi_ref,
    epoch: *const u32,
    event_loop: *mut c_void,
    /// performance.now() minus libuv's clock, in ms.
    clock: f64,
    pub client: Option<Socket>,
    pub server: Option<Socket>,
    /// Bytes for the server before its socket is handed over.
    early: Vec<u8>,
    pub server_spoke: bool,
    /// When the client's socket last read or wrote (performance.now() clock).
    pub client_active_at: f64,
    /// The connection is ending: the server is gone and the client's bytes are dropped.
    pub ending: bool,
    /// The timer that reports the summaries of calls left in the engine (made when first set).
    summaries_due: Option<Timer>,
}

fn hrtime_ms() -> f64 {
    // SAFETY: a pure function of libuv's.
    unsafe { uv_hrtime() as f64 / 1e6 }
}

/// Checks a Node-API call made with values this module made itself.
fn checked(status: sys::napi_status, what: &str) -> napi::Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::from_reason(format!(
            "{what} failed (Node-API status {status})"
        )))
    }
}

impl Link {
    /// A link reporting to `callback`, reading the route epoch from the Uint32Array `epoch_cell`.
    ///
    /// # Safety
    /// `env`, `callback` and `epoch_cell` are live values of the current call.
    pub unsafe fn new(
        env: sys::napi_env,
        callback: sys::napi_value,
        epoch_cell: sys::napi_value,
        now: f64,
    ) -> napi::Result<Link> {
        let mut kind = 0;
        let mut length = 0usize;
        let mut data: *mut c_void = ptr::null_mut();
        let mut buffer = ptr::null_mut();
        let mut offset = 0usize;
        // SAFETY: per the function's contract.
        unsafe {
            checked(
                sys::napi_get_typedarray_info(
                    env,
                    epoch_cell,
                    &mut kind,
                    &mut length,
                    &mut data,
                    &mut buffer,
                    &mut offset,
                ),
                "reading the route epoch's array",
            )?;
        }
        if kind != sys::TypedarrayType::uint32_array || length < 1 {
            return Err(napi::Error::from_reason(
                "the route epoch must be a Uint32Array of at least one element",
            ));
        }
        let mut event_loop = ptr::null_mut();
        let mut callback_ref = ptr::null_mut();
        let mut cell_ref = ptr::null_mut();
        let mut name = ptr::null_mut();
        let mut context = ptr::null_mut();
        const NAME: &str = "sparkplane.PinnedSockets";
        // SAFETY: per the function's contract; the references keep both values alive until
        // `Link::drop` deletes them.
        unsafe {
            checked(
                sys::napi_get_uv_event_loop(env, &mut event_loop),
                "finding the event loop",
            )?;
            checked(
                sys::napi_create_string_utf8(
                    env,
                    NAME.as_ptr().cast(),
                    NAME.len() as isize,
                    &mut name,
                ),
                "naming the link",
            )?;
            let mut resource = ptr::null_mut();
            checked(
                sys::napi_create_object(env, &mut resource),
                "making the link's async resource",
            )?;
            checked(
                sys::napi_async_init(env, resource, name, &mut context),
                "opening the link's async context",
            )?;
            checked(
                sys::napi_create_reference(env, callback, 1, &mut callback_ref),
                "keeping the link's callback",
            )?;
            checked(
                sys::napi_create_reference(env, epoch_cell, 1, &mut cell_ref),
                "keeping the route epoch",
            )?;
        }
        LINKS_OPEN.with(|open| open.set(open.get() + 1));
        Ok(Link {
            env,
            callback: callback_ref,
            context,
            epoch_cell: cell_ref,
            epoch: data.cast::<u32>(),
            event_loop: event_loop.cast(),
            clock: now - hrtime_ms(),
            client: None,
            server: None,
            early: Vec::new(),
            server_spoke: false,
            client_active_at: now,
            ending: false,
            summaries_due: None,
        })
    }

    pub fn event_loop(&self) -> *mut c_void {
        self.event_loop
    }

    /// performance.now(), read from libuv's clock.
    pub fn now(&self) -> f64 {
        hrtime_ms() + self.clock
    }

    pub fn epoch(&self) -> u32 {
        // SAFETY: the cell is kept alive by `epoch_cell`; JavaScript writes it only while this
        // does not run.
        unsafe { self.epoch.read_volatile() }
    }

    /// The server's socket is handed over: what waited for it goes first.
    pub fn server_adopted(&mut self, mut socket: Socket) {
        let early = std::mem::take(&mut self.early);
        socket.send(&[&early]);
        self.server = Some(socket);
        self.balance();
    }

    /// Sends one step's output (`input`: the chunk it read) and forgets it.
    pub fn deliver(&mut self, out: &mut Output, input: &[u8]) {
        if !out.client.is_empty() {
            if let Some(client) = self.client.as_mut() {
                client.send(&slices(&out.client, input, &out.scratch));
                self.client_active_at = self.now();
            }
        }
        if !out.server.is_empty() && !self.ending {
            let bytes = slices(&out.server, input, &out.scratch);
            match self.server.as_mut() {
                Some(server) => server.send(&bytes),
                None => {
                    for slice in bytes {
                        self.early.extend_from_slice(slice);
                    }
                }
            }
        }
        out.clear();
        self.balance();
    }

    /// Back-pressure: a socket with too much unsent stops the other from being read.
    pub fn balance(&mut self) {
        let client_full = self
            .client
            .as_ref()
            .is_some_and(|s| s.backlog() > MAX_UNSENT_BYTES);
        let server_full = self
            .server
            .as_ref()
            .is_some_and(|s| s.backlog() > MAX_UNSENT_BYTES);
        if let Some(client) = self.client.as_mut() {
            client.held = server_full;
            client.watch();
        }
        if let Some(server) = self.server.as_mut() {
            server.held = client_full;
            server.watch();
        }
    }

    /// Ends the connection: the server is dropped, the client's socket shut once written.
    pub fn end(&mut self) {
        self.ending = true;
        self.server = None;
        self.early = Vec::new();
        if let Some(client) = self.client.as_mut() {
            client.shut_when_sent();
        }
        self.balance();
    }

    /// Calls `callback` (with a handle whose first word is `owner`) in `ms` milliseconds unless
    /// it is set to already; false when no timer could be made.
    pub fn report_later(&mut self, owner: *mut c_void, ms: u64, callback: TimerCallback) -> bool {
        let timer = match &mut self.summaries_due {
            Some(timer) => timer,
            None => match Timer::new(self.event_loop, owner) {
                Ok(timer) => self.summaries_due.insert(timer),
                Err(_) => return false,
            },
        };
        timer.start(ms, callback);
        true
    }

    /// What calling the link's JavaScript callback takes, copied out of the link.
    pub fn reporter(&self) -> Reporter {
        Reporter {
            env: self.env,
            callback: self.callback,
            context: self.context,
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        LINKS_OPEN.with(|open| open.set(open.get() - 1));
        self.client = None;
        self.server = None;
        // SAFETY: made by `Link::new` in the same environment, on the thread that runs it.
        unsafe {
            sys::napi_delete_reference(self.env, self.callback);
            sys::napi_delete_reference(self.env, self.epoch_cell);
            sys::napi_async_destroy(self.env, self.context);
        }
    }
}

/// A copy of what calling a link's JavaScript takes, so that no borrow of the link is held while
/// JavaScript runs (and may end the link).
#[derive(Clone, Copy)]
pub struct Reporter {
    env: sys::napi_env,
    callback: sys::napi_ref,
    context: sys::napi_async_context,
}

impl Reporter {
    /// Calls the link's callback with (notice, detail), as Node calls callbacks from its loop:
    /// the microtasks and ticks it queues run when it returns.
    ///
    /// # Safety
    /// Called from a libuv callback on the thread of `env`, while the link is alive.
    pub unsafe fn report(self, notice: Notice, detail: &str) {
        // SAFETY: per the function's contract.
        unsafe {
            let mut scope = ptr::null_mut();
            if sys::napi_open_handle_scope(self.env, &mut scope) != sys::Status::napi_ok {
                return;
            }
            let mut function = ptr::null_mut();
            let mut receiver = ptr::null_mut();
            let mut args = [ptr::null_mut(); 2];
            let mut result = ptr::null_mut();
            let ready = sys::napi_get_reference_value(self.env, self.callback, &mut function)
                == sys::Status::napi_ok
                && sys::napi_get_global(self.env, &mut receiver) == sys::Status::napi_ok
                && sys::napi_create_int32(self.env, notice as i32, &mut args[0])
                    == sys::Status::napi_ok
                && sys::napi_create_string_utf8(
                    self.env,
                    detail.as_ptr().cast(),
                    detail.len() as isize,
                    &mut args[1],
                ) == sys::Status::napi_ok;
            if ready {
                let status = sys::napi_make_callback(
                    self.env,
                    self.context,
                    receiver,
                    function,
                    args.len(),
                    args.as_ptr(),
                    &mut result,
                );
                if status == sys::Status::napi_pending_exception {
                    // Thrown from the gateway's own handler: Node's uncaught-exception path.
                    let mut error = ptr::null_mut();
                    if sys::napi_get_and_clear_last_exception(self.env, &mut error)
                        == sys::Status::napi_ok
                    {
                        sys::napi_fatal_exception(self.env, error);
                    }
                }
            }
            sys::napi_close_handle_scope(self.env, scope);
        }
    }
}
