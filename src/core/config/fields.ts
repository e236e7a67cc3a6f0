// Schema pieces shared by every command's config, each with the message a person sees when a
// value is wrong: what the value must be, in the words of the flag's help.
import { z } from 'zod';
import { parseDuration, parseSize } from '../units.ts';

export const port = () =>
  z
    .int({ error: 'must be a number 1–65535' })
    .min(1, { error: 'must be a number 1–65535' })
    .max(65535, { error: 'must be a number 1–65535' });

/** A port where 0 asks the system for a free one (tests, ephemeral admin ports). */
export const portOrZero = () =>
  z
    .int({ error: 'must be a number 0–65535 (0 picks a free port)' })
    .min(0, { error: 'must be a number 0–65535 (0 picks a free port)' })
    .max(65535, { error: 'must be a number 0–65535 (0 picks a free port)' });

export const host = () =>
  z
    .string({ error: 'must be a host name or IP address' })
    .regex(/^[A-Za-z0-9._:%-]+$/, { error: 'must be a host name or IP address' });

export const positiveInt = (what = 'a whole number of at least 1') =>
  z.int({ error: `must be ${what}` }).min(1, { error: `must be ${what}` });

export const path = () =>
  z.string({ error: 'must be a path' }).min(1, { error: 'must be a path, not empty' });

/**
 * Text that `parse` turns into a value; undefined from it is a bad value, described by `message`
 * (and a value that is not text at all by `notText`).
 */
export const parsedText = <T>(
  parse: (text: string) => T | undefined,
  message: string,
  notText = message,
) =>
  z.string({ error: notText }).transform((text, ctx) => {
    const parsed = parse(text);
    if (parsed === undefined) {
      ctx.issues.push({ code: 'custom', message, input: text });
      return z.NEVER;
    }
    return parsed;
  });

/** `HOST:PORT`, `[v6]:PORT`; parsed into its parts. */
export const hostPort = () =>
  parsedText(parseHostPort, 'must be HOST:PORT with a port 1–65535', 'must be HOST:PORT');

export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([0-9A-Fa-f:.%a-z]+)\]|([A-Za-z0-9._-]+)):(\d{1,5})$/.exec(text.trim());
  if (match === null) return undefined;
  const portNumber = Number(match[3]);
  if (portNumber < 1 || portNumber > 65535) return undefined;
  return { host: match[1] ?? match[2] ?? '', port: portNumber };
}

/** A duration as text (`3s`, `500ms`, `2m`) or a number of milliseconds; yields milliseconds. */
export const duration = () =>
  z
    .union([z.number(), z.string()], { error: 'must be a duration such as 500ms, 3s or 2m' })
    .transform((value, ctx) => {
      const ms = typeof value === 'number' ? value : parseDuration(value);
      if (ms === undefined || !Number.isFinite(ms) || ms < 0) {
        ctx.issues.push({
          code: 'custom',
          message: 'must be a duration such as 500ms, 3s or 2m',
          input: value,
        });
        return z.NEVER;
      }
      return ms;
    });

/** A size as text (`512m`, `4g`, `16GiB`) or a number of bytes; yields bytes. */
export const size = () =>
  z
    .union([z.number(), z.string()], { error: 'must be a size such as 512m, 4g or 16GiB' })
    .transform((value, ctx) => {
      const bytes = typeof value === 'number' ? value : parseSize(value);
      if (bytes === undefined || !Number.isFinite(bytes) || bytes <= 0) {
        ctx.issues.push({
          code: 'custom',
          message: 'must be a size such as 512m, 4g or 16GiB',
          input: value,
        });
        return z.NEVER;
      }
      return bytes;
    });

export const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: `must be one of ${values.join(', ')}` });
