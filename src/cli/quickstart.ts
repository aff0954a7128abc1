import http from 'node:http';
import type net from 'node:net';

/**
 * The quickstart's two DEMO web servers, S1 and S2, on loopback ephemeral ports. They
 * exist only so that `npm start` shows balancing with nothing else installed; a real
 * deployment points pools at real servers.
 */
export async function startDemoServers(): Promise<{ ports: number[]; close(): Promise<void> }> {
  const servers: http.Server[] = [];
  for (const name of ['S1', 'S2']) {
    const srv = http.createServer((req, res) => {
      const body = `Hello from ${name} (Fulcrum quickstart demo server) - you asked for ${req.method} ${req.url}\n`;
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'X-Served-By': name });
      res.end(body);
    });
    srv.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    servers.push(srv);
  }
  return {
    ports: servers.map((s) => (s.address() as net.AddressInfo).port),
    async close() {
      for (const s of servers) s.closeAllConnections();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    },
  };
}

/** The embedded quickstart configuration, as YAML, for the given demo server ports (listening on `bind`). */
export function quickstartYaml(ports: number[], bind = '127.0.0.1:8080'): string {
  return `# Fulcrum embedded quickstart: ${bind} balanced over two demo servers.
listeners:
  - name: quickstart
    bind: "${bind}"
    mode: http
    routes:
      - pool: demo
pools:
  demo:
    balance: round-robin
    servers:
      - name: S1
        address: 127.0.0.1:${ports[0]}
      - name: S2
        address: 127.0.0.1:${ports[1]}
# One worker, so that one round robin serves every curl and S1, S2, S1, ... shows
# (each worker process keeps its own rotation). Real configurations use one per core.
runtime:
  workers: 1
`;
}
