import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Rig } from '../../experiment/rig.js';

/**
 * A receiver in the rig's receiver namespace that reads one connection to its end.
 * Resolves once it listens; `received` resolves to the bytes it read (the witness).
 */
export async function startRigReceiver(rig: Rig, port: number): Promise<{ received: Promise<number> }> {
  const js = `const net=require('net');let n=0;net.createServer(c=>{c.on('data',d=>n+=d.length);c.on('end',()=>{console.log(n);process.exit(0)})}).listen(${port},'${rig.receiver.addr}',()=>console.log('listening'))`;
  const child = rig.spawn('receiver', process.execPath, ['-e', js]);
  const lines = createInterface({ input: child.stdout! });
  const next = () => once(lines, 'line').then(([l]) => String(l));
  const first = await next();
  if (first !== 'listening') throw new Error(`the rig's receiver said "${first}" instead of listening`);
  return { received: next().then(Number) };
}
