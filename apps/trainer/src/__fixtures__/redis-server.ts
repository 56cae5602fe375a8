/**
 * A real `redis-server` for the rollout tests: on 127.0.0.1, a free port, no persistence
 * (`--save '' --appendonly no`), its files in a temporary folder, optionally with `requirepass`
 * and TLS. Missing `redis-server` is an error (CI installs it: .ci/run), never a skip.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A free TCP port on 127.0.0.1 (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** TLS files of a server (PEM paths). */
export interface RedisTls {
  cert: string;
  key: string;
  ca: string;
}

/** Options of {@link RedisServer.start}. */
export interface RedisServerOptions {
  /** `requirepass` (default: none). */
  password?: string;
  /** Serve TLS only, with these files (default: plain TCP). */
  tls?: RedisTls;
  /** Port (default: a free one). */
  port?: number;
}

/** Generate a self-signed certificate for 127.0.0.1 with openssl; returns its files (the certificate is its own CA). */
export function selfSignedCertificate(folder: string): RedisTls {
  const cert = join(folder, 'cert.pem');
  const key = join(folder, 'key.pem');
  const out = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`openssl failed: ${out.stderr || out.error?.message}`);
  return { cert, key, ca: cert };
}

/** True when this redis-server was built with TLS (it accepts `--tls-port`). */
export function redisHasTls(): boolean {
  const out = spawnSync('redis-server', ['--port', '0', '--tls-port', '0', '--save', '', '--appendonly', 'no'], { encoding: 'utf8', timeout: 5000 });
  // With TLS compiled in, both ports at 0 parse and the server exits for having nothing to listen on.
  return /Configured to not listen anywhere/u.test(`${out.stdout}${out.stderr}`);
}

/** A running redis-server (see the file header). */
export class RedisServer {
  private child: ChildProcess | undefined;
  output = '';

  private constructor(
    readonly port: number,
    readonly directory: string,
    private readonly options: RedisServerOptions,
  ) {}

  /** Start a server and wait until it accepts connections. */
  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const directory = await mkdtemp(join(tmpdir(), 'vlm-grpo-redis-'));
    const server = new RedisServer(options.port ?? (await freePort()), directory, options);
    await server.launch();
    return server;
  }

  /** The URL of the server (with the password, `rediss://` with TLS). */
  url(password = this.options.password): string {
    return `${this.options.tls ? 'rediss' : 'redis'}://${password === undefined ? '' : `:${encodeURIComponent(password)}@`}127.0.0.1:${this.port}`;
  }

  private launch(): Promise<void> {
    const args = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.directory, '--protected-mode', 'yes'];
    if (this.options.tls) args.push('--port', '0', '--tls-port', String(this.port), '--tls-cert-file', this.options.tls.cert, '--tls-key-file', this.options.tls.key, '--tls-ca-cert-file', this.options.tls.ca, '--tls-auth-clients', 'no');
    else args.push('--port', String(this.port));
    if (this.options.password !== undefined) args.push('--requirepass', this.options.password);
    return new Promise((resolve, reject) => {
      const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      this.child = child;
      const timer = setTimeout(() => reject(new Error(`redis-server did not start within 10 s:\n${this.output}`)), 10_000);
      const onData = (chunk: Buffer) => {
        this.output += chunk.toString();
        if (this.output.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(error.code === 'ENOENT' ? new Error('redis-server is not installed (Debian: apt-get install redis-server; .ci/run installs it)') : error);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        if (!this.output.includes('Ready to accept connections')) reject(new Error(`redis-server exited with ${code}:\n${this.output}`));
      });
    });
  }

  /** Kill the server (SIGKILL: nothing is saved, as with a crash). */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  /** Start it again on the same port, empty. */
  async restart(): Promise<void> {
    await this.kill();
    this.output = '';
    await this.launch();
  }

  /** Kill it and remove its folder. */
  async stop(): Promise<void> {
    await this.kill();
    await rm(this.directory, { recursive: true, force: true });
  }
}
