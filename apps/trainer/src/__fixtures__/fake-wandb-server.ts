/**
 * A stand-in for the W&B API (GraphQL `viewer`, `upsertBucket`, `RunUploadUrls`, the file stream
 * and upload URLs) that records every request, for the tracking tests.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request the fake server received. */
export interface Recorded {
  method: string;
  url: string;
  authorization: string | undefined;
  body: string;
}

/** How the fake server answers one request: normally, HTTP 500, or never. */
export type FakeAnswer = 'ok' | 'fail' | 'stall';

/**
 * A stand-in for the W&B API that records every request (GraphQL, file stream, uploads).
 * `answer` decides per request (default: always `ok`); stalled requests are answered when the
 * server closes.
 */
export async function fakeWandb(options: { answer?: (request: Recorded) => FakeAnswer } = {}): Promise<{ server: Server; base: string; requests: Recorded[] }> {
  const requests: Recorded[] = [];
  const read = (request: IncomingMessage) =>
    new Promise<string>((resolve) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
  let base = '';
  const stalled = new Set<ServerResponse>();
  const server = createServer((request, response) => {
    void read(request).then((body) => {
      const recorded = { method: request.method ?? '', url: request.url ?? '', authorization: request.headers.authorization, body };
      requests.push(recorded);
      const answer = options.answer?.(recorded) ?? 'ok';
      if (answer === 'stall') {
        stalled.add(response);
        return;
      }
      response.setHeader('Content-Type', 'application/json');
      if (answer === 'fail') {
        response.statusCode = 500;
        response.end('{"error":"fake failure"}');
        return;
      }
      if (request.url === '/graphql') {
        const { query, variables } = JSON.parse(body) as { query: string; variables: Record<string, unknown> };
        if (query.includes('viewer')) {
          response.end(JSON.stringify({ data: { viewer: { id: '1', entity: 'tester', flags: '{}', teams: { edges: [] } } } }));
        } else if (query.includes('upsertBucket')) {
          response.end(JSON.stringify({ data: { upsertBucket: { bucket: { id: 'b', name: variables['name'], displayName: 'fake-run', project: { id: 'p', name: variables['project'], entity: { id: 'e', name: 'tester' } } }, inserted: true } } }));
        } else if (query.includes('RunUploadUrls')) {
          const files = variables['files'] as string[];
          response.end(JSON.stringify({ data: { model: { bucket: { id: 'b', files: { uploadHeaders: [], edges: files.map((name) => ({ node: { name, url: `${base}/upload/${name}` } })) } } } } }));
        } else {
          response.statusCode = 400;
          response.end('{}');
        }
        return;
      }
      response.end('{}');
    });
  });
  server.on('close', () => {
    for (const response of stalled) response.destroy();
  });
  const close = server.close.bind(server);
  server.close = ((callback?: (error?: Error) => void) => {
    for (const response of stalled) response.destroy();
    server.closeAllConnections();
    return close(callback);
  }) as typeof server.close;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { server, base, requests };
}


/** History rows sent through the file stream requests. */
export function historyRows(requests: readonly Recorded[]): Record<string, unknown>[] {
  return requests.filter((request) => request.url.endsWith('/file_stream')).flatMap((request) => {
    const files = (JSON.parse(request.body) as { files?: Record<string, { content: string[] }> }).files ?? {};
    return (files['wandb-history.jsonl']?.content ?? []).map((line) => JSON.parse(line) as Record<string, unknown>);
  });
}
