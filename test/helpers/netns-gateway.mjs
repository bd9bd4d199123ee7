// Run inside a network namespace: forwards every connection made to a Unix socket (a file, reachable
// from any namespace) to host:port as seen from this namespace, so a test process outside the
// namespaces it created can reach a server inside them without an address of its own on their network.
// Usage: node netns-gateway.mjs <socket path> <host> <port>
import net from 'node:net';

const [socketPath, host, port] = process.argv.slice(2);
const server = net.createServer((client) => {
  const upstream = net.connect(Number(port), host);
  client.pipe(upstream).pipe(client);
  const end = () => (client.destroy(), upstream.destroy());
  client.on('error', end);
  upstream.on('error', end);
});
server.listen(socketPath, () => process.stdout.write('ready\n'));
