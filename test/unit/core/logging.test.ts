// Logging: JSON lines or readable text to a destination we capture, and the one place that turns
// diagnostics events into log lines.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { afterEach, describe, it } from 'node:test';
import { stripVTControlCharacters } from 'node:util';
import { channels } from '../../../src/core/diagnostics.ts';
import { createLogger, subscribeLogs, type LogLevel } from '../../../src/core/logging.ts';

/** A pino destination that keeps every write. */
function capture(): { readonly lines: string[]; write(line: string): void } {
  const lines: string[] = [];
  return {
    lines,
    write(line) {
      lines.push(line);
    },
  };
}

/** Each write parsed as one JSON object, without its timestamp. */
function records(lines: readonly string[]): Record<string, unknown>[] {
  return lines.map((line) => {
    assert.ok(line.endsWith('}\n'), `not one JSON line: ${JSON.stringify(line)}`);
    assert.equal(line.indexOf('\n'), line.length - 1, 'one object per line');
    const { time, ...rest } = JSON.parse(line) as Record<string, unknown>;
    assert.match(String(time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    return rest;
  });
}

function jsonLogger(level: LogLevel = 'info') {
  const destination = capture();
  return { destination, logger: createLogger({ level, format: 'json', destination }) };
}

/** A text stream for pino-pretty, which wants a real stream. */
function textStream(): { readonly stream: Writable; readonly text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString();
      callback();
    },
  });
  return { stream, text: () => text };
}

describe('createLogger', () => {
  it('json: one JSON object per line with level, name, msg and fields', () => {
    const { destination, logger } = jsonLogger();
    logger.info({ port: 7337 }, 'hello');
    logger.error('broken');
    assert.deepEqual(records(destination.lines), [
      { level: 30, name: 'sparkplane', port: 7337, msg: 'hello' },
      { level: 50, name: 'sparkplane', msg: 'broken' },
    ]);
  });

  it('json: drops lines below the level', () => {
    const { destination, logger } = jsonLogger('warn');
    logger.info('quiet');
    logger.debug('quieter');
    logger.warn('loud');
    assert.deepEqual(
      records(destination.lines).map((record) => record.msg),
      ['loud'],
    );
  });

  it('auto on a non-terminal is JSON', () => {
    const destination = capture();
    createLogger({ level: 'info', format: 'auto', isTty: false, destination }).info('x');
    assert.deepEqual(records(destination.lines), [{ level: 30, name: 'sparkplane', msg: 'x' }]);
  });

  it('pretty: readable text, not JSON, without pid, hostname or name', () => {
    const { stream, text } = textStream();
    const logger = createLogger({
      level: 'info',
      format: 'pretty',
      isTty: false,
      destination: stream,
    });
    logger.info({ port: 7337 }, 'hello');
    assert.match(text(), /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: hello\n {4}port: 7337\n$/);
    assert.throws(() => JSON.parse(text()) as unknown, SyntaxError);
  });

  it('auto on a terminal is readable text', () => {
    const { stream, text } = textStream();
    createLogger({ level: 'info', format: 'auto', isTty: true, destination: stream }).warn('hi');
    assert.match(stripVTControlCharacters(text()), /^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: hi\n$/);
  });
});

describe('subscribeLogs', () => {
  let stop: (() => void) | undefined;
  afterEach(() => {
    stop?.();
    stop = undefined;
  });

  it('logs a drained close at info with its fields', () => {
    const { destination, logger } = jsonLogger();
    stop = subscribeLogs(logger);
    channels.serviceClosed.publish({ service: 'admin', drained: true, durationMs: 12.4 });
    assert.deepEqual(records(destination.lines), [
      {
        level: 30,
        name: 'sparkplane',
        service: 'admin',
        drained: true,
        durationMs: 12.4,
        msg: 'admin closed (drained) in 12 ms',
      },
    ]);
  });

  it('logs a close cut off by the deadline as a warning', () => {
    const { destination, logger } = jsonLogger();
    stop = subscribeLogs(logger);
    channels.serviceClosed.publish({ service: 'gateway', drained: false, durationMs: 2000.6 });
    const [record] = records(destination.lines);
    assert.equal(record?.level, 40);
    assert.equal(record.msg, 'gateway closed (deadline passed, open work cut off) in 2001 ms');
  });

  it('logs listening, closing and warnings', () => {
    const { destination, logger } = jsonLogger();
    stop = subscribeLogs(logger);
    channels.serviceListening.publish({ service: 'admin', address: '127.0.0.1', port: 15080 });
    channels.serviceClosing.publish({ service: 'admin', reason: 'received SIGTERM' });
    channels.warning.publish({ message: 'careful', detail: { why: 'test' } });
    assert.deepEqual(
      records(destination.lines).map((record) => [record.level, record.msg]),
      [
        [30, 'admin listening on 127.0.0.1:15080'],
        [30, 'admin closing: received SIGTERM'],
        [40, 'careful'],
      ],
    );
    assert.equal(records(destination.lines)[2]?.why, 'test');
  });

  it('logs admin requests only at debug', () => {
    const request = { method: 'GET', route: '/healthz', status: 200, durationMs: 1 };
    const info = jsonLogger('info');
    const debug = jsonLogger('debug');
    stop = subscribeLogs(info.logger);
    const stopDebug = subscribeLogs(debug.logger);
    try {
      channels.adminRequest.publish(request);
    } finally {
      stopDebug();
    }
    assert.deepEqual(info.destination.lines, []);
    assert.deepEqual(
      records(debug.destination.lines).map((record) => [record.level, record.msg]),
      [[20, 'admin GET /healthz 200']],
    );
  });

  it('stops logging once stopped', () => {
    const { destination, logger } = jsonLogger();
    subscribeLogs(logger)();
    channels.serviceClosed.publish({ service: 'admin', drained: true, durationMs: 1 });
    assert.deepEqual(destination.lines, []);
  });
});
