// A receiver for bench/ladder-shares.ts: reads everything; answers an HTTP PUT (curl -T)
// with 200 once its body is in, so curl ends. Prints "listening" and then, per connection, the bytes read.
const net = require('net');
const [host, port] = [process.argv[2], Number(process.argv[3])];
net
  .createServer((c) => {
    let n = 0;
    let head = '';
    let need = -1;
    c.on('data', (d) => {
      n += d.length;
      if (need < 0 && head.length < 8192) {
        head += d.toString('latin1');
        const end = head.indexOf('\r\n\r\n');
        const m = /content-length: *(\d+)/i.exec(head);
        if (head.startsWith('PUT ') && end >= 0 && m) need = end + 4 + Number(m[1]);
      }
      if (need >= 0 && n >= need) c.end('HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    });
    c.on('end', () => {
      console.log(n);
      c.end();
    });
    c.on('error', () => {});
  })
  .listen(port, host, () => console.log('listening'));
