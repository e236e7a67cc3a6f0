// A two-namespace lab in a process of its own, for testing the lab itself from outside: run as
// another user (the rootless path), or killed without its teardown (what is left behind?).
// `node lab-smoke.ts ACTION [MODE]` prints one JSON line:
//   smoke    build, connect client → server, tear down; prints what it saw and what was left
//   abandon  build, print, then wait to be killed
//   exit     build, print, then exit without a teardown
import { createLab } from './lab.ts';
import type { LabMode } from './lab-host.ts';
import { startLabServers } from './three-namespaces.ts';

const [action = 'smoke', mode] = process.argv.slice(2) as [string?, LabMode?];
const lab = await createLab(mode === undefined ? {} : { mode });
const client = await lab.namespace('c');
const server = await lab.namespace('s');
await lab.veth(
  { namespace: client, name: 'c0', addresses: ['10.231.9.1/30'] },
  { namespace: server, name: 's0', addresses: ['10.231.9.2/30'] },
);
const servers = await startLabServers(lab, server, [
  { kind: 'echo', host: '10.231.9.2', port: 7001 },
]);
// A process that, unlike the lab servers, does not watch its parent.
const sleeper = lab.start(server, ['sleep', '300']);
const script = new URL('./lab-client.ts', import.meta.url).pathname;
const request = { op: 'who', host: '10.231.9.2', port: 7001 };
const answer = await lab.run(client, [process.execPath, script, JSON.stringify(request)]);
const seen = {
  mode: lab.host.mode,
  prefix: lab.prefix,
  uid: process.getuid?.() ?? null,
  namespaces: lab.namespaces(),
  serverPid: servers.pid,
  sleeperPid: sleeper.pid,
  holderPid: lab.host.pid ?? null,
  who: JSON.parse(answer.stdout.trim().split('\n').at(-1) ?? '{}') as unknown,
};
if (action === 'smoke') {
  await lab.teardown();
  process.stdout.write(`${JSON.stringify({ ...seen, leftovers: await lab.leftovers() })}\n`);
} else {
  process.stdout.write(`${JSON.stringify(seen)}\n`);
  if (action === 'exit') process.exit(3);
  setInterval(() => undefined, 60_000);
}
