// A plain Node program nobody changed for ackscope: connects, writes, closes.
// argv: port, writes; sizes cycle through 100 B .. 64 KiB.
import net from 'node:net';
const [port, writes] = process.argv.slice(2).map(Number);
const sizes = [100, 1460, 4096, 65536, 7];
const socket = net.connect(port, '127.0.0.1');
let left = writes;
function more() {
  while (left > 0) {
    const size = sizes[left % sizes.length];
    left--;
    if (!socket.write(Buffer.alloc(size, left & 255))) return socket.once('drain', more);
  }
  socket.end();
}
more();
