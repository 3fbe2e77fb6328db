/**
 * Client drivers: node:http (with its own Agent) and fetch (Node's built-in undici, with its own
 * dispatcher), each behind the same tiny interface so the engine never knows which it drives.
 * Each experiment gets a fresh pool, closed at the end like a program that exits (which is what
 * the article's Go program does).
 */
import http from 'node:http';
import https from 'node:https';
import type { ExperimentConfig } from '../model/report.js';

/** A request other than a plain GET (a finding scenario's POST). */
export interface RequestOptions {
  /** Default GET. */
  method?: string;
  /** A body to send (with a Content-Length). */
  body?: string;
}

export interface ClientDriver {
  /** One request; resolves when the response is done with (read to the end, or left unread). */
  request(options?: RequestOptions): Promise<void>;
  /** Close the pool: every socket, idle or busy, is closed. */
  close(): Promise<void>;
}

export function createDriver(config: ExperimentConfig, url: string): ClientDriver {
  return config.client === 'fetch' ? new FetchDriver(config, url) : new HttpDriver(config, url);
}

class HttpDriver implements ClientDriver {
  private readonly agent: http.Agent;
  private readonly mod: typeof http | typeof https;
  /** Responses left unread keep their socket busy: they are destroyed with the agent at close(). */
  private readonly unread = new Set<http.IncomingMessage>();

  constructor(
    private readonly config: ExperimentConfig,
    private readonly url: string,
  ) {
    this.mod = url.startsWith('https:') ? https : http;
    const AgentClass = this.mod === https ? https.Agent : http.Agent;
    this.agent = new AgentClass({
      keepAlive: config.keepAlive,
      maxSockets: config.maxSockets ?? Infinity,
      maxFreeSockets: config.maxFreeSockets,
    });
  }

  request(options: RequestOptions = {}): Promise<void> {
    return new Promise((resolve, reject) => {
      const method = options.method ?? 'GET';
      const req = this.mod.request(this.url, { agent: this.agent, method }, (res) => {
        if (!this.config.consumeBody) {
          // Like a Go program that never reads nor closes resp.Body: the socket stays busy.
          this.unread.add(res);
          resolve();
          return;
        }
        res.on('error', reject);
        res.on('end', () => resolve());
        res.resume();
      });
      req.on('error', reject);
      req.end(options.body);
    });
  }

  async close(): Promise<void> {
    for (const res of this.unread) res.destroy();
    this.unread.clear();
    this.agent.destroy();
  }
}

/** The minimal surface of undici's Agent that Node's fetch accepts as `dispatcher`. */
interface Dispatcher {
  close(): Promise<void>;
  destroy(): Promise<void>;
}
type DispatcherClass = new (options: Record<string, unknown>) => Dispatcher;

/**
 * Node's built-in fetch has no public Agent class without installing undici itself; the global
 * dispatcher (undici's Agent, registered under Symbol.for('undici.globalDispatcher.1'), the
 * interoperability slot undici documents) gives us its constructor, so we measure Node's own fetch.
 */
async function undiciAgentClass(): Promise<DispatcherClass> {
  const slot = Symbol.for('undici.globalDispatcher.1');
  const globals = globalThis as unknown as Record<symbol, Dispatcher | undefined>;
  if (globals[slot] === undefined) await (await fetch('data:,')).arrayBuffer(); // created lazily
  const dispatcher = globals[slot];
  if (dispatcher === undefined)
    throw new Error("this Node.js has no undici global dispatcher: fetch can't be configured");
  return dispatcher.constructor as DispatcherClass;
}

class FetchDriver implements ClientDriver {
  private dispatcher: Promise<Dispatcher>;
  private readonly bodies = new Set<ReadableStream<Uint8Array>>();

  constructor(
    private readonly config: ExperimentConfig,
    private readonly url: string,
  ) {
    this.dispatcher = undiciAgentClass().then(
      (Agent) =>
        new Agent({
          // pipelining: 0 is undici's way to turn keep-alive off.
          pipelining: config.keepAlive ? 1 : 0,
          ...(config.maxSockets !== null ? { connections: config.maxSockets } : {}),
        }),
    );
  }

  async request(options: RequestOptions = {}): Promise<void> {
    const dispatcher = await this.dispatcher;
    const init = { dispatcher, method: options.method ?? 'GET', body: options.body };
    const res = await fetch(this.url, init as RequestInit);
    if (this.config.consumeBody) {
      await res.arrayBuffer();
    } else if (res.body) {
      this.bodies.add(res.body);
    }
  }

  async close(): Promise<void> {
    for (const body of this.bodies) await body.cancel().catch(() => {});
    this.bodies.clear();
    await (await this.dispatcher).destroy();
  }
}
