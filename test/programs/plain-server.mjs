// A plain Node server nobody changed for ackscope: writes to each accepted connection at
// once (in its 'connection' listener), then closes it. Prints its port on stdout.
import net from 'node:net';
const [bytes] = process.argv.slice(2).map(Number);
const server = net.createServer((socket) => {
  socket.write(Buffer.alloc(1000, 1));
  socket.end(Buffer.alloc(bytes - 1000, 2), () => server.close());
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
