// A loopback reverse proxy that adds `Authorization: Bearer <token>` to every request and
// forwards it, unchanged otherwise (method, path, query, body, and the client's own `Host` and
// `Origin` headers, which the DNS-rebinding scenario depends on), to the MCP server. This is
// the token injection the MCP conformance suite needs: its server scenarios have no OAuth.

import http from 'node:http';

/**
 * Starts the proxy on 127.0.0.1:`port` (0: any). `target` is the MCP server's origin.
 * Returns {url(path), port, close(), requests}.
 */
export async function startTokenProxy({ target, token, port = 0 }) {
  const upstream = new URL(target);
  const requests = [];
  const server = http.createServer((req, res) => {
    const headers = { ...req.headers };
    if (!headers.authorization) headers.authorization = `Bearer ${token}`;
    const out = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers, // Host and Origin pass through as the client sent them
        timeout: 30_000,
      },
      (up) => {
        requests.push({ method: req.method, path: req.url, host: req.headers.host, status: up.statusCode });
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    out.on('timeout', () => out.destroy(new Error('upstream timeout')));
    out.on('error', (e) => {
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`proxy: ${e.message}`);
      } else {
        res.destroy(e);
      }
    });
    req.pipe(out);
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  const actual = server.address().port;
  return {
    port: actual,
    requests,
    url: (path = '/') => `http://127.0.0.1:${actual}${path}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
