// What a native pinned engine hands back after each call (layout in native/addon/src/relay_api.rs):
// the bytes for each socket, as pieces of the chunk it was given or of a scratch slab, and its
// events as records of numbers, with an object only for an event that carries text. Handling an
// event may call an engine again before the events after it are read, so each depth of such
// nested calls has an array of its own: the events are read where the engine wrote them.
import type { NativePinnedEngine, PinnedEventDetails } from '../../native/native-core.ts';
import type { FrameOutput } from './frame-output.ts';
import { LARGE_SLAB_BYTES, SMALL_SLAB_BYTES, type SlabPool } from './slab-pool.ts';

const HEAD_WORDS = 6;
/** Room the engine's own frames may need beyond the bytes it read. */
const SCRATCH_MARGIN_BYTES = 4096;
/** Output up to this size is copied out of the scratch slab. */
const COPY_OUT_BYTES = 4096;
const EVENT_WORDS = 10;

export const PinnedEventKind = {
  FORWARDED: 1,
  COMPLETED: 2,
  ROUTE: 3,
  AUTHENTICATE: 4,
  OPENED: 5,
  REJECTED: 6,
  RELAY_FAILED: 7,
  /** OK unary calls of one session and method, summed up (after the other events). */
  CALLS: 8,
} as const;

/** Where each number of an event record is (EVENT_WORDS numbers per event). */
export const EventField = {
  KIND: 0,
  STREAM: 1,
  SLOT: 2,
  /** Index into the addon's method names, from 1; 0 for a call of no SparkConnectService method. */
  METHOD: 3,
  STATUS: 4,
  DURATION_MS: 5,
  BYTES_IN: 6,
  BYTES_OUT: 7,
  /** 1 when the call reached the server. */
  FORWARDED: 8,
  /** 1 when the event has details. */
  DETAILS: 9,
} as const;

/** Where each number of a CALLS record is (the slot and method as in EventField). */
export const CallsField = {
  STARTED: 4,
  /** Calls that ended OK; their durations follow the events. */
  ENDED: 5,
  BYTES_IN: 6,
  BYTES_OUT: 7,
  /** Where in `numbers` the ended calls' durations (ms) start. */
  DURATIONS_AT: 8,
} as const;

/** The events of one engine call: their numbers, and the details of those that have any. */
export interface PinnedEvents {
  readonly count: number;
  /** The engine's output array; the events start at `at`. */
  readonly numbers: Float64Array;
  readonly at: number;
  readonly details: readonly (PinnedEventDetails | undefined)[];
}

/** Number `field` of event `index`. */
export const eventNumber = (events: PinnedEvents, index: number, field: number): number =>
  events.numbers[events.at + index * EVENT_WORDS + field] ?? 0;

/**
 * One engine call's result, once its bytes went to the outputs. Its events stay valid until
 * `stepHandled`, which every step must be given back to.
 */
export interface EngineStep {
  readonly events: PinnedEvents;
  /** The connection is over: the client's socket ends once written. */
  readonly closed: boolean;
  /**
   * When the oldest call still reading its first message opened: -1 for none, -2 when this call
   * did not say (only reading the client's bytes and expiring calls do, and reading says nothing
   * once a time was told until `expire` is called: the timer set for it is still to fire).
   */
  readonly oldestPeeking: number;
}

const NO_DETAILS: readonly (PinnedEventDetails | undefined)[] = [];
/** The scratch of an engine that writes its sockets itself: it hands back no bytes. */
const NO_SCRATCH = Buffer.alloc(0);

/** Where a step's bytes go: the two sockets' outputs, or nowhere for an engine that writes them. */
export type EngineOutputs =
  { readonly toClient: FrameOutput; readonly toUpstream: FrameOutput } | undefined;

/** The output arrays, one per depth of engine calls made while handling another's events. */
const ios: Float64Array[] = [];
let depth = 0;

/** Ends the use of the deepest step's output array (see EngineStep). */
export function stepHandled(): void {
  depth--;
}

/**
 * Runs `call` with the shared output array and a scratch slab, pushes its bytes to the outputs
 * (`chunk`: what the call was given to read, if anything) and returns its events.
 */
export function runEngine(
  engine: NativePinnedEngine,
  call: (io: Float64Array, scratch: Buffer) => number,
  outputs: EngineOutputs,
  slabs: SlabPool,
  chunk?: Buffer,
): EngineStep {
  // What the engine writes is at most about what it read: a small slab for a small read, and
  // for the engine's own frames (answers, refunds), which larger output spills out of.
  const slab =
    outputs === undefined
      ? NO_SCRATCH
      : slabs.take(
          chunk !== undefined && chunk.length + SCRATCH_MARGIN_BYTES > SMALL_SLAB_BYTES
            ? LARGE_SLAB_BYTES
            : SMALL_SLAB_BYTES,
        );
  const level = depth++;
  try {
    let io = ios[level] ?? (ios[level] = new Float64Array(4096));
    const needed = call(io, slab);
    if (needed > 0) {
      io = ios[level] = new Float64Array(Math.max(needed, io.length * 2));
      engine.output(io, slab);
    }
    if (outputs === undefined) return readEvents(engine, io, HEAD_WORDS);
    return readOutput(engine, io, slab, outputs, slabs, chunk);
  } catch (error) {
    depth--;
    throw error;
  }
}

function readOutput(
  engine: NativePinnedEngine,
  io: Float64Array,
  slab: Buffer,
  outputs: { readonly toClient: FrameOutput; readonly toUpstream: FrameOutput },
  slabs: SlabPool,
  chunk: Buffer | undefined,
): EngineStep {
  const clientPieces = io[0] ?? 0;
  const serverPieces = io[1] ?? 0;
  const scratchBytes = io[2] ?? 0;
  // A little output is copied out so that the slab goes back at once: a slab a socket holds
  // until it has written is a slab's worth of memory for however few bytes it carries.
  const scratch =
    scratchBytes < 0
      ? engine.takeScratch()
      : scratchBytes <= COPY_OUT_BYTES
        ? Buffer.from(slab.subarray(0, scratchBytes))
        : slab;
  let at = HEAD_WORDS;
  let slabTo: FrameOutput | undefined;
  let slabShared = false;
  for (let index = 0; index < clientPieces + serverPieces; index++) {
    const output = index < clientPieces ? outputs.toClient : outputs.toUpstream;
    const start = io[at] ?? 0;
    const length = io[at + 1] ?? 0;
    at += 2;
    if (start >= 0) {
      if (chunk !== undefined) output.push(chunk.subarray(start, start + length));
      continue;
    }
    const from = -start - 1;
    output.push(scratch.subarray(from, from + length));
    if (scratch === slab) {
      if (slabTo !== undefined && slabTo !== output) slabShared = true;
      slabTo = output;
    }
  }
  // The slab goes back once the one socket that writes from it is done with it; one both sides
  // write from is left to the collector rather than tracked twice.
  if (slabTo === undefined) slabs.giveBack(slab);
  else if (!slabShared) slabTo.retain(slab);
  return readEvents(engine, io, at);
}

/** The events of the output in `io`, which start at `at`. */
function readEvents(engine: NativePinnedEngine, io: Float64Array, at: number): EngineStep {
  const eventCount = io[3] ?? 0;
  const closed = io[4] === 1;
  const oldestPeeking = io[5] ?? -2;
  // Read in place: the engine calls that handling these events makes write the next depth's array.
  let details = NO_DETAILS;
  for (let index = 0; index < eventCount; index++)
    if (io[at + index * EVENT_WORDS + EventField.DETAILS] === 1) {
      if (details === NO_DETAILS) details = new Array<PinnedEventDetails | undefined>(eventCount);
      (details as (PinnedEventDetails | undefined)[])[index] = engine.eventDetails(index);
    }
  return { events: { count: eventCount, numbers: io, at, details }, closed, oldestPeeking };
}
