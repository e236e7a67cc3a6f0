// Reads a log one line at a time and keeps only what the report needs: one group per finding
// (kind, variant, host and port) with its count and first and last line, so a log of any size
// costs memory in proportion to its distinct findings, capped. A finding counts once per log
// record, however many "Caused by" lines repeat it; shuffle fetch failures fold into the cause
// found for the same host and port.
import type { Check } from '../model.ts';
import { NO_TARGET, targetFor } from '../lint/finding.ts';
import { addressesIn, blockManagerIn, isEphemeralPort, type LogAddress } from './log-address.ts';
import { observe, type FindingKind, type Observation } from './log-patterns.ts';
import { startsRecord, structuredTexts } from './log-records.ts';
import { remedyFor, type FindingGroup } from './remedies.ts';

export interface LogAnalyzer {
  /** The next line of the log (line numbers count from 1). */
  line(text: string): void;
  /** The checks for everything seen, in order of first appearance. */
  finish(): Check[];
}

/** Distinct findings kept; more are counted, not kept. */
export const MAX_FINDINGS = 500;

/** Causes a shuffle fetch failure from the same host and port is folded into. */
const CAUSES: ReadonlySet<FindingKind> = new Set([
  'connection-refused',
  'connection-reset',
  'connect-timeout',
  'no-route',
  'connection-quiet',
  'connection-closed',
  'spark-auth',
  'wrong-bytes',
]);

interface MutableGroup {
  kind: FindingKind;
  variant: string;
  address: LogAddress | undefined;
  count: number;
  firstLine: number;
  lastLine: number;
  text: string;
  details: Record<string, string | number>;
  fetchFailures: number;
  peerPorts: Set<number>;
}

export function createLogAnalyzer(file: string): LogAnalyzer {
  const groups = new Map<string, MutableGroup>();
  const listening = new Map<string, number>();
  let dropped = 0;
  let lineNumber = 0;
  let recordAddress: LogAddress | undefined;
  let connectOperation: string | undefined;
  let seenInRecord = new Set<string>();

  const record = (observation: Observation, text: string): void => {
    const key = groupKey(observation);
    if (seenInRecord.has(key)) return;
    seenInRecord.add(key);
    const existing = groups.get(key);
    if (existing !== undefined) {
      existing.count += 1;
      existing.lastLine = lineNumber;
      if (observation.address !== undefined && existing.peerPorts.size < 64) {
        existing.peerPorts.add(observation.address.port);
      }
      return;
    }
    if (groups.size >= MAX_FINDINGS) {
      dropped += 1;
      return;
    }
    groups.set(key, {
      kind: observation.kind,
      variant: observation.variant,
      address: observation.address,
      count: 1,
      firstLine: lineNumber,
      lastLine: lineNumber,
      text: text.trim().slice(0, 240),
      details: { ...observation.details },
      fetchFailures: 0,
      peerPorts: new Set(observation.address === undefined ? [] : [observation.address.port]),
    });
  };

  const scan = (text: string): void => {
    noteListening(text, listening);
    const operation = /Spark Connect RPC error during: (\w+)/.exec(text)?.[1];
    if (operation !== undefined) connectOperation = operation;
    for (const observation of observe(text, { address: recordAddress, connectOperation })) {
      record(observation, text);
    }
    const addresses = addressesIn(text);
    if (addresses.length > 0) recordAddress = addresses.at(-1);
    const blockManager = blockManagerIn(text);
    if (blockManager !== undefined) recordAddress = blockManager.address;
  };

  return {
    line(text) {
      lineNumber += 1;
      if (startsRecord(text)) {
        recordAddress = undefined;
        connectOperation = undefined;
        seenInRecord = new Set();
      }
      const structured = structuredTexts(text);
      if (structured === undefined) scan(text);
      else for (const piece of structured) scan(piece);
    },
    finish() {
      const all = foldFetchFailures([...groups.values()]);
      const checks = all
        .sort((a, b) => a.firstLine - b.firstLine)
        .map((group) => toCheck(file, group, listening));
      if (dropped > 0) {
        checks.push({
          id: 'explain.more',
          target: NO_TARGET,
          source: { file },
          layer: 'log',
          status: 'warn',
          reason: 'log-finding',
          summary: `${dropped} more findings with other hosts or ports were counted but not listed`,
          evidence: { notListed: dropped, listed: MAX_FINDINGS },
          fix: { summary: 'Fix the listed findings first, or explain a shorter part of the log.' },
        });
      }
      if (checks.length === 0) {
        checks.push({
          id: 'explain.clean',
          target: NO_TARGET,
          source: { file },
          layer: 'log',
          status: 'pass',
          reason: 'log-clean',
          summary: `No known network failure in ${lineNumber} lines`,
          evidence: { lines: lineNumber },
        });
      }
      return checks;
    },
  };
}

/**
 * Ephemeral ports name one connection, not a service: findings about one host from many of them
 * are one finding.
 */
function groupKey(observation: Observation): string {
  const address = observation.address;
  if (observation.kind === 'connect-session' || address === undefined) {
    return `${observation.kind}|${observation.variant}|`;
  }
  const port = isEphemeralPort(address.port) ? '*' : String(address.port);
  return `${observation.kind}|${observation.variant}|${address.host}:${port}`;
}

function hostPortKey(address: LogAddress | undefined): string | undefined {
  if (address === undefined) return undefined;
  return `${address.host}:${isEphemeralPort(address.port) ? '*' : String(address.port)}`;
}

function foldFetchFailures(groups: MutableGroup[]): MutableGroup[] {
  const kept: MutableGroup[] = [];
  const fetches = groups.filter((group) => group.kind === 'fetch-failed');
  for (const group of groups) if (group.kind !== 'fetch-failed') kept.push(group);
  for (const fetch of fetches) {
    const key = hostPortKey(fetch.address);
    const cause = kept
      .filter(
        (group) =>
          CAUSES.has(group.kind) && key !== undefined && hostPortKey(group.address) === key,
      )
      .sort((a, b) => a.firstLine - b.firstLine)[0];
    if (cause === undefined) {
      kept.push(fetch);
      continue;
    }
    cause.fetchFailures += fetch.count;
    if (fetch.details.blockManager !== undefined)
      cause.details.blockManager = fetch.details.blockManager;
    cause.details.firstFetchFailureLine = fetch.firstLine;
  }
  return kept;
}

function toCheck(file: string, group: MutableGroup, listening: ReadonlyMap<string, number>): Check {
  const frozen: FindingGroup = group;
  const remedy = remedyFor(frozen);
  const address = group.address;
  const evidence: Record<string, string | number> = {
    count: group.count,
    firstLine: group.firstLine,
    lastLine: group.lastLine,
    line: group.text,
    ...group.details,
  };
  if (address !== undefined) {
    evidence.address = address.text.replace(/^\//, '');
    if (group.peerPorts.size > 1) evidence.distinctPorts = group.peerPorts.size;
  }
  if (group.fetchFailures > 0) evidence.fetchFailures = group.fetchFailures;
  if (group.kind === 'wrong-bytes' && listening.size > 0) {
    evidence.listeningInLog = [...listening].map(([name, port]) => `${name} ${port}`).join(', ');
  }
  return {
    id: `explain.${group.kind}`,
    target: address === undefined ? NO_TARGET : targetFor(address.host, address.port),
    source: { file, line: group.firstLine },
    layer: remedy.layer,
    status: remedy.status,
    reason: remedy.reason,
    summary: remedy.summary,
    evidence,
    fix: remedy.fix,
  };
}

/** Which services the logging process itself started, so a stray protocol can name the port. */
function noteListening(text: string, listening: Map<string, number>): void {
  if (listening.size >= 16) return;
  const shuffle = /Starting shuffle service on port (\d+)/.exec(text);
  if (shuffle !== null) listening.set('shuffle service', Number(shuffle[1]));
  const service = /Successfully started service '([^']+)' on port (\d+)/.exec(text);
  if (service !== null) listening.set(service[1] ?? 'service', Number(service[2]));
}
