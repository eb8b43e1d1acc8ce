/**
 * A process that brings a veth rig up, starts a long-lived process inside its sender
 * namespace, prints the rig's names as one JSON line, then either waits to be signalled
 * (argv[2] = 'wait') or exits on its own without tearing down (argv[2] = 'exit').
 * test/experiment.rig.test.ts checks that nothing is left behind either way.
 */
import { startRig } from '../../experiment/rig.js';

const how = process.argv[2] ?? 'wait';
const rig = await startRig({ bottleneck: { rateBps: 10_000_000 } });
rig.spawn('sender', 'sleep', ['600'], { stdio: 'ignore' });
process.stdout.write(
  JSON.stringify({ netns: [rig.sender.netns, rig.receiver.netns], ifaces: [rig.sender.iface, rig.receiver.iface] }) + '\n',
);
if (how === 'exit') process.exit(3);
setInterval(() => {}, 60_000);
